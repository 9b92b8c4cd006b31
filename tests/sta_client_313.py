"""Run by a Python >= 3.13 with aio-sensorthings: sync a cityops /sta/v1.1 and write to it.

Usage: python sta_client_313.py BASE_URL TOKEN  (BASE_URL ends in /sta). Prints one JSON line.
"""

import asyncio
import json
import sys

from aio_sensorthings.adapters.source.http_source import STAHttpSource
from aio_sensorthings.client import STAClient
from aio_sensorthings.models.enums import STAEntityType
from aio_sensorthings.ports.auth import CredentialHeader


class Bearer:
    def __init__(self, token: str) -> None:
        self.token = token

    async def create_headers(self) -> CredentialHeader:
        return CredentialHeader({"Authorization": f"Bearer {self.token}"})

    async def close(self) -> None:
        return None


async def main(base: str, token: str) -> dict[str, object]:
    out: dict[str, object] = {}
    async with STAClient(base, auth_provider=Bearer(token)) as client:
        source = STAHttpSource(client)
        things = await source.get_entities(STAEntityType.THING, top=100)  # follows @iot.nextLink
        out["things"] = len(things)
        streams = await source.get_entities(STAEntityType.DATASTREAM, expand="Thing,Sensor,ObservedProperty", top=200)
        out["datastreams"] = len(streams)
        out["expanded"] = all("Thing" in s and "Sensor" in s for s in streams)
        one = await source.get_entity(STAEntityType.DATASTREAM, streams[0]["@iot.id"], expand="Observations")
        out["observations_of_first"] = len(one.get("Observations", []))
        thing_id, _ = await client.post("Things", {
            "name": "aio client thing", "description": "made by aio-sensorthings",
            "Locations": [{"name": "here", "description": "", "encodingType": "application/geo+json",
                           "location": {"type": "Point", "coordinates": [114.3, 30.6]}}]})
        out["posted_thing"] = thing_id
        obs_id, _ = await client.post(f"Datastreams({streams[0]['@iot.id']})/Observations",
                                      {"phenomenonTime": "2026-03-01T00:00:00Z", "result": 7.5})
        out["posted_observation"] = obs_id
        got = await client.get(f"Observations({obs_id})")
        out["read_back"] = got.get("result")
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
