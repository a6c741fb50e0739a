"""Synthetic card transactions with a fraud label, from a seed (no download, no real data).

    python generate_data.py --rows 20000 --seed 7 --output data/transactions.csv

Fraud is rare (about 2 %) and shows the way it does in practice: larger amounts, night hours,
far from home, abroad, card not present, bursts of transactions, risky merchant categories. The
same seed always gives the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

# Merchant category codes (ISO 18245) and how much more often fraud happens there.
MERCHANT_CATEGORIES = {
    5411: 0.6,  # grocery stores
    5812: 0.7,  # restaurants
    5541: 0.8,  # service stations
    5311: 1.0,  # department stores
    4814: 1.6,  # telecommunication services
    5732: 2.2,  # electronics stores
    5944: 2.6,  # jewellery stores
    7995: 3.0,  # betting and gambling
}
COLUMNS = (
    "transaction_id",
    "amount",
    "merchant_category",
    "hour",
    "distance_from_home_km",
    "is_foreign",
    "card_present",
    "transactions_last_24h",
    "customer_age",
    "is_fraud",
)


def generate(rows: int, seed: int, fraud_rate: float = 0.02) -> pd.DataFrame:
    """``rows`` transactions; a fraction ``fraud_rate`` of them (about) fraudulent."""
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < fraud_rate
    n_fraud = int(fraud.sum())
    n_ok = rows - n_fraud

    amount = np.empty(rows)
    amount[~fraud] = rng.lognormal(mean=3.4, sigma=0.9, size=n_ok)
    amount[fraud] = rng.lognormal(mean=5.0, sigma=1.0, size=n_fraud)

    hour = np.empty(rows, dtype=np.int64)
    hour[~fraud] = np.clip(rng.normal(14, 4, size=n_ok), 0, 23).round()
    night = rng.random(n_fraud) < 0.6
    hour[fraud] = np.where(
        night, rng.integers(0, 6, size=n_fraud), rng.integers(0, 24, size=n_fraud)
    )

    distance = np.empty(rows)
    distance[~fraud] = rng.exponential(8.0, size=n_ok)
    distance[fraud] = rng.exponential(120.0, size=n_fraud)

    is_foreign = np.where(fraud, rng.random(rows) < 0.45, rng.random(rows) < 0.04)
    card_present = np.where(fraud, rng.random(rows) < 0.25, rng.random(rows) < 0.75)
    bursts = np.where(fraud, rng.poisson(6.0, rows), rng.poisson(2.0, rows))

    codes = np.array(list(MERCHANT_CATEGORIES))
    weights = np.array(list(MERCHANT_CATEGORIES.values()))
    merchant = np.empty(rows, dtype=np.int64)
    merchant[~fraud] = rng.choice(codes, size=n_ok)
    merchant[fraud] = rng.choice(codes, size=n_fraud, p=weights / weights.sum())

    age = np.clip(rng.normal(44, 15, size=rows), 18, 95).round().astype(np.int64)

    frame = pd.DataFrame(
        {
            "transaction_id": [f"tx-{seed}-{i:08d}" for i in range(rows)],
            "amount": amount.round(2),
            "merchant_category": merchant,
            "hour": hour,
            "distance_from_home_km": distance.round(1),
            "is_foreign": is_foreign.astype(np.int64),
            "card_present": card_present.astype(np.int64),
            "transactions_last_24h": bursts.astype(np.int64),
            "customer_age": age,
            "is_fraud": fraud.astype(np.int64),
        }
    )
    return frame.loc[:, list(COLUMNS)]


def write_atomically(frame: pd.DataFrame, output: Path) -> None:
    """Write the CSV through a temporary file and a rename: never half a file."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        Path(tmp).replace(output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main() -> None:
    """Parse the arguments and write the data set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="number of transactions")
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same file)")
    parser.add_argument("--fraud-rate", type=float, default=0.02, help="share of fraud")
    parser.add_argument(
        "--output", type=Path, default=Path("data/transactions.csv"), help="CSV file to write"
    )
    args = parser.parse_args()
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    if not 0 < args.fraud_rate < 0.5:
        parser.error("--fraud-rate must be between 0 and 0.5")
    frame = generate(args.rows, args.seed, args.fraud_rate)
    write_atomically(frame, args.output)
    print(
        f"wrote {len(frame)} transactions ({int(frame['is_fraud'].sum())} fraud) to {args.output}"
    )


if __name__ == "__main__":
    main()
