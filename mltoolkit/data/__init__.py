"""Data validation with Great Expectations: suites, sources, runs, reports and evidence.

Only ``suite`` and ``source`` are light; every module that needs GX, pandas, SQLAlchemy or
pyspark imports it inside its functions, so that ``mltoolkit --help`` stays fast.
"""
