"""Early warning (事前预判): per-point forecast model, back-test, CAP 1.2 warnings."""
