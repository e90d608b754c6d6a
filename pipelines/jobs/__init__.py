"""Jobs and recipes: `curate` and `tokenize` put the composites together; the recipe parser (pure) and the
stage registry (which builds a stage from its recipe entry) stay apart; staging publishes a job's output."""
