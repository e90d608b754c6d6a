"""Pure per-document decisions: language ID, quality rules, normalisation, MinHash signatures.

Nothing here imports apache_beam: every filter is a plain class or function that the Beam shell in
`pipelines/` wires into transforms, and that tests call directly.
"""
