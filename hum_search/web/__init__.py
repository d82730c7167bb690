"""The Streamlit web app's library (``app.py`` at the project root is the thin script over it)."""
