"""Train a small MLP on scikit-learn's bundled digits (8x8 images, 10 classes) with descend.fit.

The test split is held out until the end and scored once; early stopping and the choice of weights
(Patience with restore_best) look only at a validation split carved from the training part.
"""
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import descend as ds


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities 0..16 -> 0..1
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.2, random_state=0, stratify=y_rest)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    result = ds.fit(model, (X_train, y_train), loss="cross_entropy", val=(X_val, y_val), metrics=["accuracy"],
                    lr=3e-3, batch_size=32, max_epochs=40, schedule=ds.schedules.warmup_cosine(warmup=0.05),
                    stop=[ds.stop.Patience(8, monitor="val_accuracy", mode="max", restore_best=True)])
    with torch.no_grad():
        predicted = model(torch.as_tensor(X_test, dtype=torch.float32)).argmax(1).numpy()
    print(f"best validation accuracy {result.best['val_accuracy']:.4f} at step {result.best['step']} "
          f"(epoch {result.best['epoch']}); {len(result.history)} steps in {result.elapsed:.1f} s")
    print(f"test accuracy {(predicted == y_test).mean():.4f} on {len(y_test)} held-out images (scored once)")


if __name__ == "__main__":
    main()
