"""The embedded demo behind `winnow run`: the docs site it crawls, and the whole chain on it."""
