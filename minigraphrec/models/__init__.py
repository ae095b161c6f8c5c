"""Recommenders: baselines, graph neural networks and closed-form filters."""
from .base import Recommender

__all__ = ["Recommender"]
from .popularity import Popularity

__all__ += ["Popularity"]
from .embedding_base import EmbeddingRecommender
from .mf import MF
from .lightgcn import LightGCN
from .gcn import GCN
from .ngcf import NGCF

__all__ += ["EmbeddingRecommender", "MF", "LightGCN", "GCN", "NGCF"]
from .knn import ItemKNN, UserKNN
from .content import ContentBased
from .hybrid import Hybrid
from .ease import EASE
from .gfcf import GFCF

__all__ += ["ItemKNN", "UserKNN", "ContentBased", "Hybrid", "EASE", "GFCF"]
from .gat import GAT

__all__ += ["GAT"]
from .srgnn import SRGNN, SessionBatch

__all__ += ["SRGNN", "SessionBatch"]
from .session_base import SessionRecommender
from .sequential import SessionPopularity, MarkovChain, SessionItemKNN

__all__ += ["SessionRecommender", "SessionPopularity", "MarkovChain", "SessionItemKNN"]
