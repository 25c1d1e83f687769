"""Getting items in: fetch a feed safely, parse it, clean and normalise its items, give each
its identity keys; and read an article the user wants tracked."""
