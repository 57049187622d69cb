"""Recompute a lucky bag's winners from its proof. Standard library only.

    curl -s http://HOST/api/rooms/ROOM/bags/BAG/proof -H "Authorization: Bearer TOKEN" \\
        | python verify_luckybag.py            # or: python verify_luckybag.py proof.json

Prints the winners, one user id per line, in draw order. Exits 1 when the seed does not match
the hash published at the opening, or when the winners the server announced differ.
"""

import hashlib
import json
import sys


def winners(seed, participants, ineligible, count):
    pool = sorted(set(participants) - set(ineligible))
    out = []
    for i in range(min(count, len(pool))):
        digest = hashlib.sha256(f"{seed}:{i}".encode("ascii")).digest()
        out.append(pool.pop(int.from_bytes(digest, "big") % len(pool)))
    return out


def main():
    source = open(sys.argv[1], encoding="utf-8") if len(sys.argv) > 1 else sys.stdin
    proof = json.load(source)
    seed = proof.get("seed")
    if not seed:
        sys.exit("no seed yet: the bag has not been drawn")
    if hashlib.sha256(seed.encode("ascii")).hexdigest() != proof["seed_hash"]:
        sys.exit("seed does not match the published seed_hash")
    drawn = winners(seed, proof["participants"], proof.get("ineligible", {}), proof["winners"])
    for user in drawn:
        print(user)
    announced = proof.get("result")
    if announced is not None and announced != drawn:
        sys.exit(f"announced winners differ: {announced}")


if __name__ == "__main__":
    main()
