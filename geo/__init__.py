"""Pure geometry for the command center: CRS rules, coordinate conversion, layers, assignment.

Nothing here imports Streamlit, a database driver or ``services``: every function runs in tests
and from the CLI on plain GeoPandas/Shapely/numpy objects.
"""
