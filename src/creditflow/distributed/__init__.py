"""Scale out on Dask: train and score partitioned Parquet tables larger than one machine's memory.

    from creditflow.distributed import cluster_client, read_labelled, train_on_cluster, score_on_cluster
    with cluster_client("local:4") as client:          # or "tcp://scheduler:8786"
        data = read_labelled(client, "loans/", target="y", id="user_id")
        train_on_cluster(client, data, "out/")          # the same bundle `creditflow train` writes
        score_on_cluster(client, "out/model", "book/", "scores/")   # partitioned Parquet, input order

Bins, selection, coefficients, points, scores and metrics equal the single-machine ones on the same
rows: binning runs on exactly merged per-value counts, and the logistic fit is the single-machine
Newton solver with each log-likelihood, score and information summed over the workers. Needs the ``[dask]`` extra.
"""

from creditflow.distributed.cluster import CLUSTER_HELP, cluster_client, parse_cluster, tree_reduce
from creditflow.distributed.labelled import LabelledTable, read_labelled
from creditflow.distributed.source import PartitionedTable, Piece, read_dataset, read_piece

__all__ = [
    "CLUSTER_HELP",
    "LabelledTable",
    "PartitionedTable",
    "Piece",
    "cluster_client",
    "fit_scorecard",
    "parse_cluster",
    "read_dataset",
    "read_labelled",
    "read_piece",
    "score_on_cluster",
    "train_on_cluster",
    "tree_reduce",
]


def __getattr__(name: str):  # noqa: ANN202 - lazy imports keep `import creditflow.distributed` light
    if name == "fit_scorecard":
        from creditflow.distributed.scorecard import fit_scorecard

        return fit_scorecard
    if name == "train_on_cluster":
        from creditflow.distributed.train import train_on_cluster

        return train_on_cluster
    if name == "score_on_cluster":
        from creditflow.distributed.score import score_on_cluster

        return score_on_cluster
    raise AttributeError(name)
