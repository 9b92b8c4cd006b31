"""`python -m cityops.jobs …` (or this file given to spark-submit): the `cityops jobs` commands."""

from cityops.jobs.cli import jobs

if __name__ == "__main__":
    jobs()
