r"""Data sets: loaders for the usual interaction files, and embedded data.

Loaders (all stream their files -- a line, or about 128 KiB of whole lines, at
a time, never the whole file as one string -- and all are strict: anything
they cannot read exactly raises :class:`~minigraphrec.errors.DataError`
naming the file, the 1-based line and the problem; nothing is skipped
silently):

* :func:`load_lightgcn` -- LightGCN ``train.txt`` / ``test.txt`` adjacency lists;
* :func:`load_triples` -- delimited ``user item [rating [timestamp]]`` lines;
* :func:`load_recbole` -- RecBole atomic ``.inter`` files with a typed header;
* :func:`load_movielens_100k` -- the GroupLens MovieLens-100K folder, with
  user and item feature matrices;
* :func:`fetch_movielens_100k` -- download MovieLens-100K once, verify its
  SHA-256, cache it, load it.

Embedded data, so that the demo and the tests need no download:

* :func:`synthetic` -- a seeded generator with planted communities and known
  generating probabilities (an oracle to compare models against);
* :func:`article_toy` -- the article's 10 users x 10 items example;
* :func:`example` -- the tutorials' data: MovieLens-100K when
  ``$MINIGRAPHREC_ML100K`` names its folder, else :func:`synthetic`.

Session logs: :func:`load_sessions` (CIKM Cup 2016 / Diginetica, or a delimited
event log: YooChoose, Retailrocket, Last.fm-1K and the like, through ``columns=``,
``time_unit=``, ``events=`` and ``gap=``) and the seeded generator
:func:`synthetic_sessions`.

One module per format, so that each reads on its own:

==================  ===============================================================
``_parse``          the strict line parsing the loaders share (messages, tokens,
                    the chunked reader of delimited tables)
``lightgcn``        :func:`load_lightgcn`
``triples``         :func:`load_triples`
``recbole``         :func:`load_recbole`
``movielens``       :func:`load_movielens_100k`
``sessions``        :func:`load_sessions`
``download``        :func:`fetch_movielens_100k` (checksum-verified, cached)
``embedded``        :func:`synthetic`, :func:`synthetic_sessions`, :func:`article_toy`,
                    :func:`example`
==================  ===============================================================

Every public name is importable from ``minigraphrec.datasets`` itself.

Conventions shared by every loader
----------------------------------
* A missing file raises ``FileNotFoundError`` naming the path, and a folder
  given for a file ``IsADirectoryError`` (neither is malformed data, so
  neither is a ``DataError``); :func:`load_movielens_100k`, which reads a
  folder, raises ``NotADirectoryError`` for a file.
* Raw ids (strings) are at most 1,024 characters long: a longer field is a
  wrong separator or column, and as NumPy string arrays are as wide as
  their longest id, one such id would make ``user_ids`` / ``item_ids``
  huge.
* Given a test file, a loader returns ``(train, test)`` sharing one id space
  (the training one). A test interaction whose user or item the training
  file does not know is an error by default; with ``on_unknown="drop"`` it
  is dropped, a ``logging`` warning says how many, and ``test.n_dropped``
  holds the count (``0`` when nothing was dropped).
* Blank lines are ignored. A file with no interactions (empty, or only a
  header, comments or blank lines) is an error.
* A gzip-compressed LightGCN, triples, RecBole, MovieLens or session file is
  read as such, recognised by its first two bytes (not its name); a zip,
  bzip2, xz, 7-Zip or zstd file is an error that asks to unpack it first. Lines end with
  ``\n`` or ``\r\n``; in those files a ``\r`` alone is an error that says so.
* Delimited files may quote fields as in CSV; the header and column rules
  of :func:`load_triples` are spelled out in its docstring and in the
  "Data formats" page.
* Repeated (user, item) pairs are kept as repeated events; see
  :class:`~minigraphrec.data.Interactions`.
"""
from .download import ML100K_SHA256, ML100K_URL, fetch_movielens_100k
from .embedded import (
                       SyntheticSessionsTruth,
                       SyntheticTruth,
                       article_toy,
                       example,
                       synthetic,
                       synthetic_sessions,
)
from .lightgcn import load_lightgcn
from .movielens import ML100K_GENRES, load_movielens_100k
from .recbole import load_recbole
from .sessions import load_sessions
from .triples import load_triples

__all__ = [
    "load_lightgcn", "load_triples", "load_recbole", "load_movielens_100k", "ML100K_GENRES",
    "fetch_movielens_100k", "synthetic", "SyntheticTruth", "article_toy", "example",
    "ML100K_URL", "ML100K_SHA256",
    "load_sessions", "synthetic_sessions", "SyntheticSessionsTruth",
]
