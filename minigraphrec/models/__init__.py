"""Recommenders: baselines, graph neural networks and closed-form filters."""
from .base import Recommender

__all__ = ["Recommender"]
