"""The bundled GPT trainer that streams Winnow token shards. The only package that imports torch."""
