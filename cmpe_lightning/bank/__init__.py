"""Simulation banks: simulations stored in shards for training on a fixed budget of costly runs."""
