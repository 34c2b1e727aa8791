"""The daily briefing (每日简报): content from the store, a print map, a PDF, made on the server offline."""
