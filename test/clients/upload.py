# The prefix.dev docs' upload script (shared/docs/seed-prefix-api-keys.md),
# kept as the docs print it so the tests replay what its users send. Changed:
# the channel URL and token come from CHANNELD_UPLOAD_URL / CHANNELD_TOKEN,
# and a status other than 200 prints the body and exits non-zero so a test
# can tell. Its Content-Length is one byte too many on purpose (as in the
# docs); requests overwrites it with the real length.
import os
import sys
from pathlib import Path
import hashlib

import requests

channel = os.environ["CHANNELD_UPLOAD_URL"]
token = os.environ["CHANNELD_TOKEN"]

def upload(fn):
    data = fn.read_bytes()

    # skip if larger than 100Mb
    if len(data) > 100 * 1024 * 1024:
        print("Skipping", fn, "because it is too large")
        return

    name = fn.name
    sha256 = hashlib.sha256(data).hexdigest()
    headers = {
        "X-File-Name": name,
        "X-File-SHA256": sha256,
        "Authorization": f"Bearer {token}",
        "Content-Length": str(len(data) + 1),
        "Content-Type": "application/octet-stream",
    }

    r = requests.post(channel, data=data, headers=headers)
    print(f"Uploaded package {name} with status  {r.status_code}")
    if r.status_code != 200:
        print(r.text)
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        upload(Path(sys.argv[1]))
    else:
        print("Usage: upload.py <package>")
        sys.exit(1)
