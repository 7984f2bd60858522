"""Float study of anomaly scores on jet images (issue 13): which score separates W/Z/t from q/g.

Trains on the g/q jets of the train split only and reports, per score and signal class, the AUC
and the signal efficiency at a 1 % q/g rate on the test split (hwai.metrics.anomaly_metrics).
Scores: reconstruction MSE, Σ mu², the VAE's KL, Σ z² of the latent means standardised on the
train background (``z2``, anomaly.score: latent_norm) and whitened on it (``maha``, anomaly.score:
mahalanobis). ``--scale`` sets data.image.scale (linear, sqrt, log with log_eps 0.01).
Run: python bench/anomaly_scores.py ../shared/data/jets_constituents.npz [--arch dense|conv] [--epochs N]
     [--scale linear,log] [--latent 8]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from hwai.data.images import load_images
from hwai.engines.keras.anomaly import whitening
from hwai.metrics import anomaly_metrics


def build(arch: str, shape: tuple, latent: int, seed: int):
    import tensorflow as tf
    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    x = inp = tf.keras.Input(shape=shape)
    if arch == "conv":
        for f in (8, 8):
            x = L.Conv2D(f, 3, strides=2, padding="same", activation="relu")(x)
        x = L.Flatten()(x)
    else:
        x = L.Flatten()(x)
        x = L.Dense(64, activation="relu")(x)
    h = L.Dense(32, activation="relu")(x)
    mu, logvar = L.Dense(latent)(h), L.Dense(latent)(h)
    enc = tf.keras.Model(inp, [mu, logvar])
    d = L.Dense(32, activation="relu")
    d2 = L.Dense(64, activation="relu")
    d3 = L.Dense(int(np.prod(shape)))
    z_in = tf.keras.Input(shape=(latent,))
    dec = tf.keras.Model(z_in, L.Reshape(shape)(d3(d2(d(z_in)))))
    return enc, dec


def train(enc, dec, x, xv, beta: float, epochs: int, seed: int):
    import tensorflow as tf
    opt = tf.keras.optimizers.Adam(1e-3)
    n_pix = float(np.prod(x.shape[1:]))

    @tf.function
    def step(xb, training):
        with tf.GradientTape() as tape:
            mu, lv = enc(xb, training=training)
            z = mu + tf.exp(0.5 * lv) * tf.random.normal(tf.shape(mu)) if beta > 0 else mu
            rec = tf.reduce_mean(tf.square(dec(z) - xb)) * n_pix
            kl = -0.5 * tf.reduce_mean(tf.reduce_sum(1 + lv - mu ** 2 - tf.exp(lv), axis=1))
            loss = rec + beta * kl
        if training:
            v = enc.trainable_variables + dec.trainable_variables
            opt.apply_gradients(zip(tape.gradient(loss, v), v))
        return loss

    rng = np.random.default_rng(seed)
    best, best_w, bad = np.inf, None, 0
    ran = 0
    for ep in range(epochs):
        ran = ep + 1
        idx = rng.permutation(len(x))
        for i in range(0, len(x), 256):
            step(tf.constant(x[idx[i:i + 256]]), True)
        vl = float(np.mean([step(tf.constant(xv[i:i + 4096]), False) for i in range(0, len(xv), 4096)]))
        if vl < best:
            best, best_w, bad = vl, (enc.get_weights(), dec.get_weights()), 0
        else:
            bad += 1
            if bad >= 4:
                break
    enc.set_weights(best_w[0])
    dec.set_weights(best_w[1])
    return ran


def scores(enc, dec, x, background):
    mu, lv = enc.predict(x, batch_size=4096, verbose=0)
    rec = dec.predict(mu, batch_size=4096, verbose=0)
    mb = enc.predict(background, batch_size=4096, verbose=0)[0].astype(np.float64)
    d = mu - mb.mean(axis=0)
    return {"mse": ((rec - x) ** 2).reshape(len(x), -1).mean(1), "mu2": (mu ** 2).sum(1),
            "kl": (0.5 * (mu ** 2 + np.exp(lv) - 1 - lv)).sum(1),
            "z2": ((d / mb.std(axis=0)) ** 2).sum(1), "maha": ((d @ whitening(mb)) ** 2).sum(1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--arch", default="dense")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--normalize", default="sum,none")
    ap.add_argument("--beta", default="0,1")
    ap.add_argument("--max-rows", type=int, default=None)
    ap.add_argument("--scale", default="linear")
    ap.add_argument("--latent", type=int, default=8)
    a = ap.parse_args()
    out = []
    for norm, pix in ((n, c) for n in a.normalize.split(",") for c in a.scale.split(",")):
        d = load_images({"source": a.data, "image": {"normalize": norm, "scale": pix}, "max_rows": a.max_rows}, 42)
        bkg = [d.class_names.index(c) for c in ("g", "q")]
        xt, xv = d.x_train[np.isin(d.y_train, bkg)], d.x_val[np.isin(d.y_val, bkg)]
        scale = 1.0 / float(xt.max())  # input scale only matters for the optimizer
        for beta in (float(b) for b in a.beta.split(",")):
            t0 = time.time()
            enc, dec = build(a.arch, xt.shape[1:], a.latent, 42)
            ep = train(enc, dec, xt * scale, xv * scale, beta, a.epochs, 42)
            for name, s in scores(enc, dec, d.x_test * scale, xt * scale).items():
                m = anomaly_metrics(d.y_test, s, d.class_names, ["g", "q"], ["W", "Z", "t"], 0.01)
                row = {"arch": a.arch, "normalize": norm, "scale": pix, "latent": a.latent, "beta": beta,
                       "score": name, "epochs": ep, "auc": m["auc"], "eff": m["efficiency"],
                       "s": round(time.time() - t0)}
                out.append(row)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
