"""Timelock interop with bittensor-drand, the Bittensor SDK's timelock code.

  tlock_check.py decrypt ROUND CIPHERTEXT_HEX SIGNATURE_HEX
      decrypts with bittensor_drand.decrypt_with_signature and decodes the SCALE
      WeightsTlockPayload by hand; prints {"hotkey", "uids", "values", "version_key"}.
  tlock_check.py encrypt ROUND HOTKEY_HEX UIDS VALUES VERSION_KEY
      SCALE-encodes the payload by hand (UIDS and VALUES comma-separated) and encrypts it
      with bittensor_drand.encrypt_at_round; prints {"ciphertext", "payload"} as hex.

The ciphertext here is what the chain's commit holds: arkworks' compressed TLECiphertext.
bittensor_drand's generic encrypt_at_round and decrypt_with_signature wrap it in SCALE
`UserData { encrypted_data: Vec<u8>, reveal_round: u64 }`; this script adds and strips that
wrapping by hand (its commit helper returns the bare ciphertext).
  tlock_check.py commit HOTKEY_HEX UIDS VALUES VERSION_KEY
      the SDK's own commit (get_encrypted_commit_v2); prints {"ciphertext", "reveal_round"}.

One JSON line on stdout.
"""

import json
import sys

import bittensor_drand


def compact(n):
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 2).to_bytes(4, "little")
    raise ValueError("length too large for this helper")


def read_compact(b, i):
    mode = b[i] & 3
    if mode == 0:
        return b[i] >> 2, i + 1
    if mode == 1:
        return int.from_bytes(b[i : i + 2], "little") >> 2, i + 2
    if mode == 2:
        return int.from_bytes(b[i : i + 4], "little") >> 2, i + 4
    raise ValueError("big compact integers are not expected here")


def encode_payload(hotkey, uids, values, version_key):
    out = compact(len(hotkey)) + hotkey
    for seq in (uids, values):
        out += compact(len(seq)) + b"".join(v.to_bytes(2, "little") for v in seq)
    return out + version_key.to_bytes(8, "little")


def decode_payload(b):
    n, i = read_compact(b, 0)
    hotkey, i = b[i : i + n], i + n
    seqs = []
    for _ in range(2):
        n, i = read_compact(b, i)
        seqs.append([int.from_bytes(b[i + 2 * k : i + 2 * k + 2], "little") for k in range(n)])
        i += 2 * n
    version_key = int.from_bytes(b[i : i + 8], "little")
    if i + 8 != len(b):
        raise ValueError(f"{len(b) - i - 8} trailing bytes after the payload")
    return {"hotkey": hotkey.hex(), "uids": seqs[0], "values": seqs[1], "version_key": version_key}


def ints(text):
    return [int(x) for x in text.split(",") if x]


def main(argv):
    if argv[:1] == ["decrypt"] and len(argv) == 4:
        ct = bytes.fromhex(argv[2])
        user_data = compact(len(ct)) + ct + int(argv[1]).to_bytes(8, "little")
        plain = bittensor_drand.decrypt_with_signature(user_data, argv[3])
        print(json.dumps(decode_payload(bytes(plain))))
    elif argv[:1] == ["encrypt"] and len(argv) == 6:
        payload = encode_payload(bytes.fromhex(argv[2]), ints(argv[3]), ints(argv[4]), int(argv[5]))
        user_data, _ = bittensor_drand.encrypt_at_round(payload, int(argv[1]))
        user_data = bytes(user_data)
        n, i = read_compact(user_data, 0)
        ct, round_ = user_data[i : i + n], int.from_bytes(user_data[i + n :], "little")
        if round_ != int(argv[1]) or i + n + 8 != len(user_data):
            raise ValueError(f"unexpected UserData: round {round_}, {len(user_data)} bytes")
        print(json.dumps({"ciphertext": ct.hex(), "payload": payload.hex()}))
    elif argv[:1] == ["commit"] and len(argv) == 5:
        ct, round_ = bittensor_drand.get_encrypted_commit_v2(
            ints(argv[2]), ints(argv[3]), int(argv[4]), 0, 0, 0, 360, 0, 1000, 1, 12.0,
            bytes.fromhex(argv[1]),
        )
        print(json.dumps({"ciphertext": bytes(ct).hex(), "reveal_round": round_}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
