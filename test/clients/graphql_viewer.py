# The prefix.dev docs' Python `requests` example for an authenticated GraphQL
# query (shared/docs/seed-prefix-api-keys.md), kept as the docs print it.
# Changed: the URL and token come from CHANNELD_GRAPHQL_URL / CHANNELD_TOKEN
# (an empty token is sent as is, to replay a client without a key).
import os

import requests

query = "{viewer { login }}"
token = os.environ["CHANNELD_TOKEN"]

headers = {"Authorization": f"Bearer {token}"}

response = requests.post(os.environ["CHANNELD_GRAPHQL_URL"], json={"query": query}, headers=headers)

print(response.json())
