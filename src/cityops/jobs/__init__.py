"""Jobs over the whole history on Apache Spark (`cityops jobs …`, docs/spark.md).

Each job runs cityops's own functions on partitions of the store (a Parquet export or
PostgreSQL over JDBC): the per-gauge back-test (skill.py), the monthly indicators
(history.py) and duplicate linking of a province's reports (merging.py). Each module also
holds the in-process runner over the same data, which the tests compare with the job.
PySpark is imported only when a job starts (session.py), never at `import cityops`.
"""
