"""The daily digest: gather one day from the store, render it (Markdown, HTML, Atom), write it."""
