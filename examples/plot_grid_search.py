"""
====================================================================
Choosing ``n_clusters`` with GridSearchCV and the clustering scorers
====================================================================

The estimators are ordinary scikit-learn estimators, so
:class:`~sklearn.model_selection.GridSearchCV` searches their parameters. Cluster labels
are arbitrary, so we score with :mod:`skdeepcluster.metrics`' scorers, which compare
``predict(X_test)`` with the held-out labels: accuracy after the best matching of
clusters to classes, NMI and ARI. The labels are used for scoring only, never for
training.

Here we search ``n_clusters`` for DEC inside a pipeline that scales the data. Each
candidate is fitted on each of 3 folds, so the network is small and trained briefly to
keep this example fast.
"""

# %%
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skdeepcluster import DECClusterer
from skdeepcluster.metrics import SCORERS

X, y = load_digits(return_X_y=True)
X = X.astype("float32")

pipe = make_pipeline(
    MinMaxScaler(),
    DECClusterer(hidden_dims=(128, 128), pretrain_epochs=40, max_epochs=20,
                 batch_size=64, random_state=0),
)
search = GridSearchCV(
    pipe,
    {"decclusterer__n_clusters": [6, 8, 10, 12, 14]},
    scoring=SCORERS,  # {"acc": ..., "nmi": ..., "ari": ...}
    refit="acc",
    cv=3,
).fit(X, y)
print("best:", search.best_params_, f"accuracy {search.best_score_:.3f}")

# %%
# Mean test scores over the folds (error bars: standard deviation over the folds). In
# this run accuracy peaks at the true number of classes, 10: the one-to-one matching
# counts the points of every extra or missing cluster as errors, while NMI and ARI
# penalise splitting a class in two less.
results = pd.DataFrame(search.cv_results_)
k = results["param_decclusterer__n_clusters"].astype(int)
fig, ax = plt.subplots(figsize=(6, 4))
for metric in ["acc", "nmi", "ari"]:
    ax.errorbar(k, results[f"mean_test_{metric}"], yerr=results[f"std_test_{metric}"],
                marker="o", capsize=3, label=metric)
ax.set_xlabel("n_clusters")
ax.set_ylabel("score on held-out folds")
ax.legend()
fig.tight_layout()
plt.show()
