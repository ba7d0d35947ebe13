"""xldiag: a diagnostic workbench for the cross-lingual alignment of multilingual embedding models.

The library knows nothing about Streamlit: the dashboard (app.py, app_pages/) and the CLI
(`python -m xldiag`) are thin layers over it.
"""

__version__ = "0.1.0"
