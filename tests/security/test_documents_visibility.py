"""Who reads a client's documents: staff who see the client; null for the client, null in a
redacted client (the previous primary is sent the change of primary, not the folder)."""

from __future__ import annotations

from domain.use_cases.clients import change_primary_counsellor
from domain.use_cases.requests import close_request
from tests.security.scene import Scene, Subscription, query, subscribed

FOLDER = "query ($id: ID!) { client(id: $id) { documents { totalCount edges { node { fileName uploadedBy { id } } } } } }"


async def test_staff_who_see_the_client_read_the_folder_and_the_client_does_not(scene: Scene) -> None:
    for viewer in ("counsellor", "admin"):
        found = (await query(scene, viewer, FOLDER, id=scene.gid("client")))["client"]["documents"]
        names = [(e["node"]["fileName"], e["node"]["uploadedBy"]["id"]) for e in found["edges"]]
        assert names == [("Brief.pdf", scene.gid("admin")), ("Gesprächsnotiz.txt", scene.gid("primary"))]
    assert (await query(scene, "client", FOLDER, id=scene.gid("client")))["client"]["documents"] is None


CHANGES = """subscription { primaryCounsellorChanged {
  client { id documents { totalCount edges { node { fileName downloadUrl } } } }
} }"""


async def test_a_redacted_client_shows_no_documents(scene: Scene) -> None:
    deps, admin = scene.deps, scene.viewer("admin")
    await close_request(deps, scene.viewer("primary"), scene.raw["request"])  # P no longer holds it
    async with subscribed(scene, "counsellor", CHANGES) as before:
        assert isinstance(before, Subscription)
        await change_primary_counsellor(deps, admin, scene.raw["client"], scene.raw["other"], "Vertretung")
        sent = await before.payload("primaryCounsellorChanged")
    assert sent["client"] == {"id": scene.gid("client"), "documents": None}
