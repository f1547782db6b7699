"""Every text input holds its documented maximum through the API on both databases; one character
more is BAD_USER_INPUT naming the field.

Generated from the MAX_* limits of domain/validation.py: INPUTS names, for each text limit, every
input that takes it, and a test fails when a limit is missing there. Texts are multi-byte (umlauts,
ß, 4-byte emoji) wherever the input allows it: on PostgreSQL an encrypted text grows with its bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError

from domain import validation
from tests.e2e.support import PASSWORD, LiveServer, register_client, unique_email
from tests.security.support import post_raw

pytestmark = pytest.mark.e2e

MIXED = "Grüße😀ÄÖÜß🫶äöü"
LOWER = "äöüß😀🫶"  # stays as it is when lower-cased, as e-mail addresses are
NUMBER_LIMITS = {"MAX_CHAT_CAPACITY", "MAX_MAIL_RESOURCES"}


def multi_byte(length: int, alphabet: str = MIXED) -> str:
    return "".join(alphabet[i % len(alphabet)] for i in range(length))


def email_address(length: int) -> str:
    """A unique address of `length` characters: 64 in the local part, the rest in the domain."""
    local = uuid.uuid4().hex[:12] + multi_byte(52, LOWER)
    return f"{local}@{multi_byte(length - len(local) - 4, LOWER)}.de"


def phone_number(length: int) -> str:
    return "+49 " + "1" * (length - 4)


def language_tag(length: int) -> str:
    """deu and subtags of two and three letters; any length from 9 up."""
    tag = "deu"
    while len(tag) < length:
        tag += "-ab" if (length - len(tag)) % 4 else "-abc"
    assert len(tag) == length
    return tag


Store = Callable[["Api", str], Awaitable[Any]]


@dataclass(frozen=True)
class Api:
    live: LiveServer
    admin: str

    async def call(self, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
        return await self.live.call(token, query, **variables)


@dataclass(frozen=True)
class TextInput:
    """An input and its limit: `store` sends a text and returns what reading it back gives;
    `refuse` (default: `store`) sends a text that must be refused."""

    name: str
    limit: str
    field: str
    store: Store
    text: Callable[[int], str] = multi_byte
    refuse: Store | None = None


COUNSELLOR = "counsellor(id: $id) { displayName firstName lastName email absenceMessage }"
CLIENT = "client(id: $id) { displayName firstName lastName email phone language primaryCounsellorHistory { reason } }"
ME = "{ me { counsellor { email } client { displayName email language } } }"


async def new_counsellor(api: Api, **fields: Any) -> str:
    data = await api.call(
        api.admin,
        "mutation ($input: CreateCounsellorInput!) { createCounsellor(input: $input) { id } }",
        input={"email": unique_email("c"), "password": PASSWORD, "displayName": "Beraterin", **fields},
    )
    found: str = data["createCounsellor"]["id"]
    return found


async def new_client(api: Api, **fields: Any) -> str:
    data = await api.call(
        api.admin,
        "mutation ($input: CreateClientInput!) { createClient(input: $input) { id } }",
        input={"displayName": "Klient", **fields},
    )
    found: str = data["createClient"]["id"]
    return found


async def read(api: Api, selection: str, node_id: str) -> dict[str, Any]:
    data = await api.call(api.admin, f"query ($id: ID!) {{ {selection} }}", id=node_id)
    found: dict[str, Any] = next(iter(data.values()))
    return found


async def register(api: Api, **fields: Any) -> str:
    data = await api.call(
        None,
        "mutation ($input: RegisterClientInput!) { registerClient(input: $input) { token } }",
        input={"displayName": "Klientin", "email": unique_email("k"), "password": PASSWORD, **fields},
    )
    token: str = data["registerClient"]["token"]
    return token


async def change_password(api: Api, token: str, current: str, new: str) -> None:
    await api.call(
        token,
        "mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { token } }",
        c=current,
        n=new,
    )


def created_counsellor(field: str) -> Store:
    async def store(api: Api, text: str) -> Any:
        return (await read(api, COUNSELLOR, await new_counsellor(api, **{field: text})))[field]

    return store


def updated_counsellor(field: str) -> Store:
    async def store(api: Api, text: str) -> Any:
        counsellor_id = await new_counsellor(api)
        await api.call(
            api.admin,
            "mutation ($input: UpdateCounsellorInput!) { updateCounsellor(input: $input) { id } }",
            input={"id": counsellor_id, field: text},
        )
        return (await read(api, COUNSELLOR, counsellor_id))[field]

    return store


def created_client(field: str) -> Store:
    async def store(api: Api, text: str) -> Any:
        return (await read(api, CLIENT, await new_client(api, **{field: text})))[field]

    return store


def updated_client(field: str) -> Store:
    async def store(api: Api, text: str) -> Any:
        client_id = await new_client(api)
        await api.call(
            api.admin,
            "mutation ($input: UpdateClientProfileInput!) { updateClientProfile(input: $input) { id } }",
            input={"id": client_id, field: text},
        )
        return (await read(api, CLIENT, client_id))[field]

    return store


def registered(field: str) -> Store:
    async def store(api: Api, text: str) -> Any:
        return (await api.call(await register(api, **{field: text}), ME))["me"]["client"][field]

    return store


async def registered_password(api: Api, text: str) -> Any:
    email = unique_email("k")
    await register(api, email=email, password=text)
    await api.live.login(email, text)
    return text


async def counsellor_password(api: Api, text: str) -> Any:
    email = unique_email("c")
    await new_counsellor(api, email=email, password=text)
    await api.live.login(email, text)
    return text


async def login_email(api: Api, text: str) -> Any:
    await new_counsellor(api, email=text)
    return (await api.call(await api.live.login(text, PASSWORD), ME))["me"]["counsellor"]["email"]


async def login_refused(api: Api, text: str) -> Any:
    return await api.live.login(text, PASSWORD)


async def login_password_refused(api: Api, text: str) -> Any:
    return await api.live.login("nobody@example.org", text)


async def current_password(api: Api, text: str) -> Any:
    email = unique_email("k")
    await change_password(api, await register(api, email=email, password=text), text, PASSWORD)
    await api.live.login(email, PASSWORD)
    return text


async def current_password_refused(api: Api, text: str) -> Any:
    await change_password(api, await register(api), text, PASSWORD)


async def new_password(api: Api, text: str) -> Any:
    email = unique_email("k")
    await change_password(api, await register(api, email=email), PASSWORD, text)
    await api.live.login(email, text)
    return text


def submitted(field: str) -> Store:
    async def store(api: Api, text: str) -> Any:
        token = (await register_client(api.live, "Klientin")).token
        query = "mutation ($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }"
        sent = {"channel": "MAIL", "message": "Hallo", field: text}
        request_id = (await api.call(token, query, input=sent))["submitRequest"]["id"]
        if field == "idempotencyKey":  # not readable: the same key must find the same request
            again = (await api.call(token, query, input=sent))["submitRequest"]["id"]
            return text if again == request_id else None
        read_back = "query ($id: ID!) { request(id: $id) { subject message } }"
        return (await api.call(token, read_back, id=request_id))["request"][field]

    return store


async def primary_change_reason(api: Api, text: str) -> Any:
    client_id, counsellor_id = await new_client(api), await new_counsellor(api)
    await api.call(
        api.admin,
        "mutation ($input: ChangePrimaryCounsellorInput!) { changePrimaryCounsellor(input: $input) { id } }",
        input={"clientId": client_id, "counsellorId": counsellor_id, "reason": text},
    )
    return (await read(api, CLIENT, client_id))["primaryCounsellorHistory"][-1]["reason"]


async def reassignment_reason(api: Api, text: str) -> Any:
    before, after = await new_counsellor(api), await new_counsellor(api)
    client_id = await new_client(api, primaryCounsellorId=before)
    await api.call(
        api.admin,
        "mutation ($input: ReassignClientsInput!) { reassignClients(input: $input) }",
        input={"fromCounsellorId": before, "toCounsellorId": after, "reason": text},
    )
    return (await read(api, CLIENT, client_id))["primaryCounsellorHistory"][-1]["reason"]


async def absence_message(api: Api, text: str) -> Any:
    counsellor_id = await new_counsellor(api)
    await api.call(
        api.admin,
        "mutation ($input: SetAbsenceInput!) { setAbsence(input: $input) { id } }",
        input={"absent": True, "message": text, "counsellorId": counsellor_id},
    )
    return (await read(api, COUNSELLOR, counsellor_id))["absenceMessage"]


SEARCH = "query ($s: String!) { clients(filter: {search: $s}) { edges { node { email } } } }"


async def search(api: Api, text: str) -> Any:
    await new_client(api, email=text)
    return [edge["node"]["email"] for edge in (await api.call(api.admin, SEARCH, s=text))["clients"]["edges"]]


async def search_refused(api: Api, text: str) -> Any:
    return await api.call(api.admin, SEARCH, s=text)


def _names(
    limit: str, prefix: str, store: Callable[[str], Store], fields: tuple[str, ...]
) -> list[TextInput]:
    return [TextInput(f"{prefix}.{field}", limit, f"input.{field}", store(field)) for field in fields]


NAMES = ("displayName", "firstName", "lastName")
INPUTS: list[TextInput] = [
    *_names("MAX_NAME", "createCounsellor", created_counsellor, NAMES),
    *_names("MAX_NAME", "updateCounsellor", updated_counsellor, NAMES),
    *_names("MAX_NAME", "createClient", created_client, NAMES),
    *_names("MAX_NAME", "updateClientProfile", updated_client, NAMES),
    TextInput("registerClient.displayName", "MAX_NAME", "input.displayName", registered("displayName")),
    *[
        TextInput(f"{name}.email", "MAX_EMAIL", "input.email", store, email_address)
        for name, store in (
            ("createCounsellor", created_counsellor("email")),
            ("createClient", created_client("email")),
            ("updateClientProfile", updated_client("email")),
            ("registerClient", registered("email")),
        )
    ],
    TextInput("login.email", "MAX_EMAIL", "email", login_email, email_address, login_refused),
    TextInput("createClient.phone", "MAX_PHONE", "input.phone", created_client("phone"), phone_number),
    TextInput("updateClientProfile.phone", "MAX_PHONE", "input.phone", updated_client("phone"), phone_number),
    *[
        TextInput(f"{name}.language", "MAX_LANGUAGE", "input.language", store, language_tag)
        for name, store in (
            ("createClient", created_client("language")),
            ("updateClientProfile", updated_client("language")),
            ("registerClient", registered("language")),
        )
    ],
    TextInput("submitRequest.subject", "MAX_SUBJECT", "input.subject", submitted("subject")),
    TextInput("submitRequest.message", "MAX_MESSAGE", "input.message", submitted("message")),
    TextInput(
        "submitRequest.idempotencyKey",
        "MAX_IDEMPOTENCY_KEY",
        "input.idempotencyKey",
        submitted("idempotencyKey"),
    ),
    TextInput("changePrimaryCounsellor.reason", "MAX_REASON", "input.reason", primary_change_reason),
    TextInput("reassignClients.reason", "MAX_REASON", "input.reason", reassignment_reason),
    TextInput("setAbsence.message", "MAX_REASON", "input.message", absence_message),
    TextInput("registerClient.password", "MAX_PASSWORD", "input.password", registered_password),
    TextInput("createCounsellor.password", "MAX_PASSWORD", "input.password", counsellor_password),
    TextInput(
        "login.password", "MAX_PASSWORD", "password", counsellor_password, refuse=login_password_refused
    ),
    TextInput(
        "changePassword.currentPassword",
        "MAX_PASSWORD",
        "currentPassword",
        current_password,
        refuse=current_password_refused,
    ),
    TextInput("changePassword.newPassword", "MAX_PASSWORD", "newPassword", new_password),
    TextInput("clients.filter.search", "MAX_SEARCH", "filter.search", search, email_address, search_refused),
]


@pytest.fixture
async def api(shared_server: LiveServer) -> Api:
    return Api(shared_server, await shared_server.admin_token())


def test_every_limit_has_its_inputs_listed() -> None:
    limits = {name for name in vars(validation) if name.startswith("MAX_")}
    assert {entry.limit for entry in INPUTS} | NUMBER_LIMITS == limits


@pytest.mark.parametrize("entry", INPUTS, ids=lambda entry: entry.name)
async def test_a_text_of_the_maximum_length_is_stored_and_read_back_whole(api: Api, entry: TextInput) -> None:
    text = entry.text(getattr(validation, entry.limit))
    assert len(text) == getattr(validation, entry.limit)
    read_back = await entry.store(api, text)
    assert read_back == ([text] if entry.limit == "MAX_SEARCH" else text)


@pytest.mark.parametrize("entry", INPUTS, ids=lambda entry: entry.name)
async def test_one_character_more_is_bad_user_input_naming_the_field(api: Api, entry: TextInput) -> None:
    text = entry.text(getattr(validation, entry.limit) + 1)
    with pytest.raises(TransportQueryError) as caught:
        await (entry.refuse or entry.store)(api, text)
    errors = caught.value.errors or []
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in errors] == [
        ("BAD_USER_INPUT", entry.field)
    ]
    assert f"longer than {getattr(validation, entry.limit)} characters" in errors[0]["message"]


async def test_a_request_of_only_four_byte_characters_at_both_limits_is_read_back_whole(api: Api) -> None:
    """The worst case of the encrypted columns: every character takes four bytes."""
    token = (await register_client(api.live, "Klientin")).token
    subject, message = "😀" * validation.MAX_SUBJECT, "🫶" * validation.MAX_MESSAGE
    data = await api.call(
        token,
        "mutation ($input: SubmitRequestInput!) { submitRequest(input: $input) { subject message } }",
        input={"channel": "MAIL", "subject": subject, "message": message},
    )
    assert data["submitRequest"] == {"subject": subject, "message": message}


async def test_an_address_that_lower_casing_lengthens_past_the_limit_is_bad_user_input(api: Api) -> None:
    """İ lower-cases to two characters: the limit holds for what is stored, not for what was sent."""
    address = email_address(validation.MAX_EMAIL)
    local, _, domain = address.partition("@")
    address = f"{local}@{'İ' * (len(domain) - 3)}.de"
    assert len(address) == validation.MAX_EMAIL
    with pytest.raises(TransportQueryError) as caught:
        await new_client(api, email=address)
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in caught.value.errors or []] == [
        ("BAD_USER_INPUT", "input.email")
    ]


async def test_a_lone_surrogate_is_bad_user_input(api: Api) -> None:
    """JSON can carry half of a UTF-16 pair, which no database and no hash can take."""
    body = {
        "query": "mutation ($input: CreateClientInput!) { createClient(input: $input) { id } }",
        "variables": {"input": {"displayName": "Kl\ud800ient"}},
    }
    response = await post_raw(api.live, json.dumps(body).encode(), token=api.admin)
    errors = response.json()["errors"]
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in errors] == [
        ("BAD_USER_INPUT", "input.displayName")
    ]
