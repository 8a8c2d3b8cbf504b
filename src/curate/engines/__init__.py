"""Engines run a plan: the local process pool now, Ray later; stages never know which."""
