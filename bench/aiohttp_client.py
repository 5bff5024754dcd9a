#!/usr/bin/python3
"""What people would otherwise script: N releases with Python's aiohttp, for bench/compare.py.

    /usr/bin/python3 bench/aiohttp_client.py --url https://127.0.0.1:PORT/v1/instances/session/release \
        --cafile cert.pem --token-file token --requests 10000 --connections 64

One ClientSession with TCPConnector(limit=N) (HTTPS, keep-alive, certificate verified against
--cafile), N worker coroutines taking request numbers from a shared counter. Each request is
POST with Content-Type, the token (read from --token-file, never on the command line), a fresh
uuid4 x-request-id and the 40-byte body {"instance_id":"i-<20 digits>"}. An answer counts as
succeeded when its status is 200 and its body holds "error_code":"0".

Prints one JSON line: requests, succeeded, failed, errors, statuses, elapsed_s. Exit code 0 only
if every request succeeded.
"""
import argparse
import asyncio
import json
import ssl
import sys
import time
import uuid

import aiohttp

OK_MARK = b'"error_code":"0"'


async def run(args: argparse.Namespace) -> dict:
    with open(args.token_file, encoding="ascii") as f:
        token = f.readline().strip()
    context = ssl.create_default_context(cafile=args.cafile)
    connector = aiohttp.TCPConnector(limit=args.connections, ssl=context)
    headers = {"Content-Type": "application/json", "x-auth-token": token}
    counts = {"requests": 0, "succeeded": 0, "failed": 0, "errors": 0, "statuses": {}}
    first_error = []
    next_number = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_number
        while next_number < args.requests:
            number = next_number
            next_number += 1
            body = b'{"instance_id":"i-%020d"}' % number
            try:
                async with session.post(args.url, data=body,
                                        headers={"x-request-id": str(uuid.uuid4())}) as answer:
                    payload = await answer.read()
                    status = str(answer.status)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                counts["errors"] += 1
                counts["requests"] += 1
                if not first_error:
                    first_error.append(repr(e))
                continue
            counts["requests"] += 1
            counts["statuses"][status] = counts["statuses"].get(status, 0) + 1
            if status == "200" and OK_MARK in payload:
                counts["succeeded"] += 1
            else:
                counts["failed"] += 1

    start = time.monotonic()
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        await asyncio.gather(*(worker(session) for _ in range(args.connections)))
    counts["elapsed_s"] = round(time.monotonic() - start, 4)
    if first_error:
        counts["first_error"] = first_error[0]
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    counts = asyncio.run(run(args))
    print(json.dumps(counts), flush=True)
    return 0 if counts["succeeded"] == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
