"""hum-search web app: hum a tune into the microphone (or upload a recording) and see which songs of
your collection it matches, where in each song, and why.

    make run                      # demo collection, or MUSIC=~/Music
    streamlit run app.py          # with HUM_SEARCH_STORE / HUM_SEARCH_MUSIC_ROOT set

This file is read twice. ``streamlit run app.py`` finds ``app = st.App(...)`` below and serves it
(ASGI mode), importing this file as the module ``app``: the server then closes the internal
endpoints a user does not need and answers an oversized upload in words (hum_search/web/server.py).
On every rerun Streamlit runs this file as ``__main__``, which draws the page
(hum_search/web/page.py). docs/app.md describes both.
"""

import streamlit as st

if __name__ == "__main__":
    from hum_search.web import page

    page.main()
else:  # (the page module is not imported here: its caches need Streamlit's runtime, which starts later)
    from hum_search.web import server

    app = st.App(__file__, **server.app_options())
