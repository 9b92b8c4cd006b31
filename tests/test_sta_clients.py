"""istsos4-client (istSOS4's Python client, PyPI, issue 23) against a real cityops server at
/sta/v1.1: every public call its README shows, with a bearer token for writes. What the client
needs beyond OGC 18-088 (its /Login, /BulkObservations, istSOS4's Networks, Users and Policies,
STAplus) cityops does not do: those calls are refused with a 404, never half-done, and tested
as such (docs/sensing.md, *Clients*)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sensing_support import SensingApi, sensing_api

ist = pytest.importorskip("istsos4_client")
requests = pytest.importorskip("requests")

OM = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
POINT = {"type": "Point", "coordinates": [102.05, 12.05]}


class Server:
    def __init__(self, api: SensingApi, url: str) -> None:
        self.api = api
        self.url = url

    def client(self, who: str | None = "gw1", **kw: Any) -> Any:
        """A Client that sends `who`'s bearer token. The client gets a token only from istSOS4's
        own `<base>/Login` (an OAuth2 password grant, outside OGC 18-088), so the token goes on
        its requests.Session, whose headers requests adds to every request."""
        c = ist.Client(self.url, max_retries=0, **kw)
        if who:
            c._session.headers["Authorization"] = f"Bearer {self.api.tokens[who]}"
        return c


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import uvicorn

    from cityops.api.app import create_app

    gen = sensing_api(tmp_path_factory.mktemp("sta_clients"))
    api = next(gen)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    srv = uvicorn.Server(uvicorn.Config(create_app(api.platform), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        while not srv.started:
            time.sleep(0.05)
        yield Server(api, f"http://127.0.0.1:{port}/sta/v1.1")
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        next(gen, None)


def _status(exc: pytest.ExceptionInfo[Any]) -> int:
    return int(exc.value.response.status_code)


def _station(c: Any, name: str) -> tuple[Any, Any]:
    """A Thing made with its Location inline, and a Datastream linked to it by id with a new
    Sensor and ObservedProperty posted first."""
    thing = c.post(ist.Thing(name=name, description="istsos4-client",
                             properties={"owner": "水务"},
                             locations=[ist.Location(name=f"{name} 站", description="roof",
                                                     encoding_type="application/geo+json", location=POINT)]))
    sensor = c.post(ist.Sensor(name=f"{name} sensor", description="", encoding_type="application/pdf",
                               metadata="https://example.org/spec.pdf"))
    prop = c.post(ist.ObservedProperty(name=f"{name} depth", description="water depth",
                                       definition="http://vocab.nerc.ac.uk/collection/P07/current/CFSN0023/"))
    ds = c.post(ist.Datastream(name=f"{name} ds", description="depth at the gauge",
                               unit_of_measurement=ist.UnitOfMeasurement(name="centimetre", symbol="cm",
                                                                         definition="http://qudt.org/vocab/unit/CentiM"),
                               observation_type=OM, thing=thing, sensor=sensor, observed_property=prop))
    return thing, ds


def test_create_read_update_delete(server: Server) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with server.client() as c:
        thing, ds = _station(c, "ist A")
        assert all(isinstance(e.iot_id, int) for e in (thing, ds))
        for k in range(5):
            c.post(ist.Observation(phenomenon_time=now + timedelta(minutes=k), result=10.0 + k, datastream=ds),
                   commit_message="nightly import")  # istSOS4's commit-message header: ignored
        got = c.get(ist.Thing, thing.iot_id, expand="Locations,Datastreams")
        assert got.name == "ist A" and got.properties == {"owner": "水务"}
        assert [loc.location for loc in got.locations] == [POINT]
        assert got.self_link == f"{server.url}/Things({thing.iot_id})"
        obs = c.list(ist.Observation, filter=f"Datastream/@iot.id eq {ds.iot_id} and result gt 11",
                     orderby="phenomenonTime desc")
        assert [o.result for o in obs] == [14.0, 13.0, 12.0]
        assert obs[0].phenomenon_time == now + timedelta(minutes=4)
        one = c.get(ist.Observation, obs[0].iot_id, expand="Datastream")
        assert one.datastream.iot_id == ds.iot_id and one.datastream.unit_of_measurement.symbol == "cm"
        # $top is the page size; list() follows @iot.nextLink to the end, iter_list() a page at a time
        paged = c.list(ist.Observation, filter=f"Datastream/@iot.id eq {ds.iot_id}", orderby="result", top=2)
        assert [o.result for o in paged] == [10.0, 11.0, 12.0, 13.0, 14.0]
        it = c.iter_list(ist.Datastream, filter="Thing/name eq 'ist A'", select="name,description,"
                         "unitOfMeasurement,observationType,id", expand="Sensor,ObservedProperty,Thing")
        [d] = list(it)
        assert (d.sensor.name, d.observed_property.name, d.thing.iot_id) == ("ist A sensor", "ist A depth", thing.iot_id)
        # partial updates: only the fields set are sent. The Thing as posted still holds its
        # Location inline (the client sets only the top entity's id), so patching it would send
        # the Location inline again: OGC 18-088 §10.3.1 says 400 (docs/sensing.md); read it first.
        with pytest.raises(requests.HTTPError) as nested:
            c.patch(thing)
        assert _status(nested) == 400 and "by reference" in str(nested.value)
        thing = c.get(ist.Thing, thing.iot_id)
        thing.description = "moved to the north side"
        c.patch(thing)
        c.patch(ist.Observation(iot_id=obs[0].iot_id, result=1.5))
        assert c.get(ist.Thing, thing.iot_id).description == "moved to the north side"
        assert c.get(ist.Observation, obs[0].iot_id).result == 1.5
        c.patch(ist.Sensor(iot_id=ds.sensor.iot_id, name="ist A sensor v2", encoding_type="application/pdf"))
        assert c.get(ist.Sensor, ds.sensor.iot_id).name == "ist A sensor v2"
        # delete: a Thing takes its Datastreams and their Observations with it
        c.delete(ist.Observation, obs[1].iot_id, commit_message="bad reading")
        with pytest.raises(requests.HTTPError) as gone:
            c.get(ist.Observation, obs[1].iot_id)
        assert _status(gone) == 404 and "response body" in str(gone.value)
        c.delete(ist.Thing, thing.iot_id)
        with pytest.raises(requests.HTTPError) as gone:
            c.get(ist.Datastream, ds.iot_id)
        assert _status(gone) == 404


def test_deep_insert_and_links(server: Server) -> None:
    with server.client() as c:
        ds = c.post(ist.Datastream(
            name="ist deep", description="", observation_type=OM,
            unit_of_measurement=ist.UnitOfMeasurement(name="mm", symbol="mm", definition="x"),
            thing=ist.Thing(name="ist deep thing", description="inline",
                            locations=[ist.Location(name="deep 站", description="", encoding_type="application/geo+json",
                                                    location=POINT)]),
            sensor=ist.Sensor(name="deep sensor", encoding_type="text/html", metadata="x"),
            observed_property=ist.ObservedProperty(name="deep rain", description="", definition="x")))
        read = c.get(ist.Datastream, ds.iot_id, expand="Thing($expand=Locations),Sensor,ObservedProperty")
        assert read.thing.name == "ist deep thing" and read.thing.locations[0].name == "deep 站"
        assert (read.sensor.name, read.observed_property.name) == ("deep sensor", "deep rain")
        # a Thing moved: a HistoricalLocation is made; typed Thing and Locations when expanded
        hl = c.list(ist.HistoricalLocation, filter=f"Thing/@iot.id eq {read.thing.iot_id}", expand="Thing,Locations")
        assert len(hl) == 1 and hl[0].thing.iot_id == read.thing.iot_id and hl[0].locations[0].location == POINT
        # an Observation with its FeatureOfInterest inline, then one linked to it by id
        when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        foi = ist.FeatureOfInterest(name="catchment 集水区", description="", encoding_type="application/geo+json",
                                    feature={"type": "Point", "coordinates": [102.1, 12.1]})
        first = c.post(ist.Observation(phenomenon_time=when, result=2.0, datastream=ds.iot_id,
                                       feature_of_interest=foi))
        fid = c.get(ist.Observation, first.iot_id, expand="FeatureOfInterest").feature_of_interest.iot_id
        second = c.post(ist.Observation(phenomenon_time=when + timedelta(minutes=1), result=3.0, datastream=ds,
                                        feature_of_interest=fid))
        assert c.get(ist.Observation, second.iot_id, expand="FeatureOfInterest").feature_of_interest.name \
            == "catchment 集水区"
        assert {f.name for f in c.list(ist.FeatureOfInterest, filter=f"Observations/Datastream/@iot.id eq {ds.iot_id}")} \
            == {"catchment 集水区"}
        c.delete(ist.FeatureOfInterest, fid)  # takes exactly its Observations
        assert c.list(ist.Observation, filter=f"Datastream/@iot.id eq {ds.iot_id}") == []


def test_writes_need_a_token_and_bad_input_is_400(server: Server) -> None:
    with server.client(None) as anon:
        assert anon.list(ist.Thing, top=1)  # reads are open
        with pytest.raises(requests.HTTPError) as refused:
            anon.post(ist.Thing(name="nobody's", description=""))
        assert _status(refused) == 401
    with server.client() as c:
        with pytest.raises(requests.HTTPError) as bad:
            c.list(ist.Thing, filter="name eq")
        assert _status(bad) == 400
        with pytest.raises(requests.HTTPError) as bad:
            c.post(ist.Datastream(name="x", description="", observation_type=OM,
                                  unit_of_measurement=ist.UnitOfMeasurement(), thing=999_999, sensor=1,
                                  observed_property=1))
        assert _status(bad) == 400


def test_what_istsos4_adds_is_refused(server: Server) -> None:
    """istSOS4's own calls, outside OGC 18-088: a 404 each, nothing stored."""
    with server.client(None, username="admin", password="test-password-1") as c:
        with pytest.raises(requests.HTTPError) as login:
            c.list(ist.Thing, top=1)  # the first request logs in: POST <base>/Login
        assert _status(login) == 401 and "/api/v1/auth/token" in str(login.value)  # where a token comes from
    with server.client() as c:
        thing, ds = _station(c, "ist B")
        obs = [ist.Observation(phenomenon_time=datetime.now(UTC) - timedelta(minutes=k), result=float(k), datastream=ds)
               for k in range(3)]
        with pytest.raises(requests.HTTPError) as bulk:
            c.bulk_observations(obs)
        assert _status(bulk) == 404
        for extra in (ist.Network, ist.User, ist.Policy):
            with pytest.raises(requests.HTTPError) as other:
                c.list(extra)
            assert _status(other) == 404
        assert c.list(ist.Observation, filter=f"Datastream/@iot.id eq {ds.iot_id}") == []
    staplus = pytest.importorskip("istsos4_client.staplus")
    with server.client(staplus=True) as c:
        with pytest.raises(requests.HTTPError) as party:
            c.post(staplus.Party(role="individual", display_name="Jo"))
        assert _status(party) == 404


def test_observation_members_and_deviations(server: Server) -> None:
    """resultTime round-trips; what cityops does not store (resultQuality, validTime,
    parameters) is accepted and reads back empty; a phenomenonTime interval is a 400; a
    `$filter` on PATCH (istSOS4's conditional update) is a 400, not ignored (docs/sensing.md)."""
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    with server.client() as c:
        _, ds = _station(c, "ist C")
        o = c.post(ist.Observation(phenomenon_time=when, result_time=when + timedelta(seconds=3), result=4.0,
                                   result_quality=1007, parameters={"battery": 3.6}, datastream=ds,
                                   valid_time=ist.TimeInterval(start=when, end=when + timedelta(hours=1))))
        back = c.get(ist.Observation, o.iot_id)
        assert (back.phenomenon_time, back.result_time, back.result) == (when, when + timedelta(seconds=3), 4.0)
        assert back.result_quality is None and back.valid_time is None and back.parameters is None
        with pytest.raises(requests.HTTPError) as interval:
            c.post(ist.Observation(phenomenon_time=ist.TimeInterval(start=when, end=when + timedelta(minutes=5)),
                                   result=1.0, datastream=ds))
        assert _status(interval) == 400 and "intervals are not supported" in str(interval.value)
        with pytest.raises(requests.HTTPError) as conditional:
            c.patch(ist.Observation(iot_id=o.iot_id, result=9.0), filter="result eq 5")
        assert _status(conditional) == 400 and "$filter" in str(conditional.value)
        assert c.get(ist.Observation, o.iot_id).result == 4.0  # unchanged
        for method in ("PUT", "DELETE"):  # no write takes a condition
            r = server.api.client.request(method, f"/sta/v1.1/Observations({o.iot_id})?$filter=result eq 5",
                                          json={"result": 1.0}, headers=server.api.h("gw1"))
            assert r.status_code == 400, (method, r.text)
        assert c.get(ist.Observation, o.iot_id).result == 4.0
        # get() with a filter: the entity when it holds, a 404 when not
        assert c.get(ist.Observation, o.iot_id, filter="result eq 4").result == 4.0
        with pytest.raises(requests.HTTPError) as miss:
            c.get(ist.Observation, o.iot_id, filter="result eq 5")
        assert _status(miss) == 404
