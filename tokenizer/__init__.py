"""Byte-level BPE training and evaluation, encoding, and sequence packing. Never imports apache_beam."""
