"""Augmentation library: rule-based noise operators, error-injection pairs and LLM generation."""
