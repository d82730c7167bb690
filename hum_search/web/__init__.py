"""The Streamlit web app's library; ``app.py`` at the project root is the thin script over it.

    page.py     the Streamlit calls: sidebar, input, controls, result cards, the error boundary
    session.py  the engine once per process, a search, upload limits, failures as one line
    format.py   titles, subtitles, scores, match labels, the backend, escapes for user-supplied names
    media.py    which files may be sent to the browser, and a card player's bytes
    chart.py    the "why it matched" plot
    folders.py  the music root, the folders the sidebar may index, the terminal command
    warmup.py   the warm-up query at start-up
    server.py   the HTTP side: closed internal endpoints, a one-line 413

Only page.py imports Streamlit (at its top); only app.py imports page.py.
"""
