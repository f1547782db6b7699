"""Mutation resolvers: read arguments, call one use case, map the snapshot it returns."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from domain.model import Viewer as DomainViewer
from domain.use_cases import (
    acceptance,
    accounts,
    clients,
    counsellors,
    documents,
    invitations,
    members,
    presence,
    privacy,
    requests,
)
from domain.use_cases.clients import ClientProfile
from domain.use_cases.counsellors import CounsellorUpdate, NewCounsellor
from graph import enums, ids
from graph.context import GraphInfo
from graph.folder_resolvers import FolderMutations
from graph.inputs import (
    ChangePrimaryCounsellorInput,
    CreateClientInput,
    CreateCounsellorInput,
    ReassignClientsInput,
    RegisterClientInput,
    SetAbsenceInput,
    SetMailAvailabilityInput,
    SubmitRequestInput,
    UpdateClientProfileInput,
    UpdateCounsellorInput,
    UpdateSettingsInput,
)
from graph.queries import viewer_of
from graph.types.client import Client
from graph.types.counsellor import Counsellor
from graph.types.document import Document
from graph.types.request import Request
from graph.types.session import Session
from graph.types.settings import Settings
from graph.uploads import Upload, uploaded_file


async def _session(info: GraphInfo, account: DomainViewer) -> Session:
    token, expires_at = info.context.state.signer.issue(account)
    return Session(token=token, expires_at=expires_at, me=await viewer_of(info, account))


def _profile(i: CreateClientInput | UpdateClientProfileInput) -> ClientProfile:
    return ClientProfile(i.display_name, i.email, i.first_name, i.last_name, i.phone, i.language)


@strawberry.type
class Mutation(FolderMutations):
    @strawberry.mutation
    async def login(self, info: GraphInfo, email: str, password: str) -> Session:
        found = await accounts.login(info.context.deps, email, password, info.context.address)
        return await _session(info, found)

    @strawberry.mutation(description="Revokes the token it is sent with.")
    async def logout(self, info: GraphInfo) -> bool:
        return await accounts.logout(info.context.deps, await info.context.viewer())

    @strawberry.mutation
    async def register_client(self, info: GraphInfo, input: RegisterClientInput) -> Session:
        account = await accounts.register_client(
            info.context.deps,
            input.display_name,
            input.email,
            input.password,
            input.language,
            info.context.address,
        )
        return await _session(info, account)

    @strawberry.mutation(
        description="Changes the viewer's password and ends every session of the account; returns a new one."
    )
    async def change_password(self, info: GraphInfo, current_password: str, new_password: str) -> Session:
        viewer = await info.context.viewer()
        account = await accounts.change_password(info.context.deps, viewer, current_password, new_password)
        return await _session(info, account)

    @strawberry.mutation(
        description="Admin: everything stored about a client, as JSON (GDPR Art. 15); audited."
    )
    async def export_client_data(self, info: GraphInfo, client_id: strawberry.ID) -> JSON:
        viewer = await info.context.viewer()
        target = ids.decode(client_id, "Client", "clientId")
        return JSON(await privacy.export_client_data(info.context.deps, viewer, target))

    @strawberry.mutation(
        description="Admin: erase a client's personal data and message texts (GDPR Art. 17); audited."
    )
    async def erase_client(self, info: GraphInfo, client_id: strawberry.ID) -> Client:
        viewer = await info.context.viewer()
        found = await privacy.erase_client(
            info.context.deps, viewer, ids.decode(client_id, "Client", "clientId")
        )
        return Client.checked(found, viewer, info.context)

    @strawberry.mutation(
        description="Staff who see the client: add a file to their folder (multipart request)."
    )
    async def upload_document(self, info: GraphInfo, client_id: strawberry.ID, file: Upload) -> Document:
        viewer = await info.context.viewer()
        target = ids.decode(client_id, "Client", "clientId")
        incoming = uploaded_file(file)
        return Document.of(
            await documents.upload_document(info.context.deps, viewer, target, incoming), viewer
        )

    @strawberry.mutation(description="The uploader or an admin. Returns the id of the deleted document.")
    async def delete_document(self, info: GraphInfo, id: strawberry.ID) -> strawberry.ID:
        viewer = await info.context.viewer()
        await documents.delete_document(info.context.deps, viewer, ids.decode(id, "Document"))
        return id

    @strawberry.mutation
    async def create_counsellor(self, info: GraphInfo, input: CreateCounsellorInput) -> Counsellor:
        viewer = await info.context.viewer()
        new = NewCounsellor(
            input.email,
            input.password,
            input.display_name,
            input.first_name,
            input.last_name,
            input.role,
            input.chat_capacity,
            input.mail_availability,
            input.mail_resources,
        )
        return Counsellor.of(await counsellors.create_counsellor(info.context.deps, viewer, new), viewer)

    @strawberry.mutation(description="Admins: (re)send a counsellor's invitation.")
    async def invite_counsellor(self, info: GraphInfo, id: strawberry.ID) -> Counsellor:
        viewer = await info.context.viewer()
        found = await counsellors.invite_counsellor(info.context.deps, viewer, ids.decode(id, "Counsellor"))
        return Counsellor.of(found, viewer)

    @strawberry.mutation(
        description="Sets the password of an invited client or counsellor and signs them in."
    )
    async def accept_invitation(self, info: GraphInfo, token: str, password: str) -> Session:
        found = await invitations.accept_invitation(info.context.deps, token, password, info.context.address)
        return await _session(info, found)

    @strawberry.mutation(description="Admins: a blocked client cannot sign in; their sessions end.")
    async def block_client(self, info: GraphInfo, id: strawberry.ID) -> Client:
        viewer = await info.context.viewer()
        found = await members.block_client(info.context.deps, viewer, ids.decode(id, "Client"))
        return Client.checked(found, viewer, info.context)

    @strawberry.mutation
    async def unblock_client(self, info: GraphInfo, id: strawberry.ID) -> Client:
        viewer = await info.context.viewer()
        found = await members.unblock_client(info.context.deps, viewer, ids.decode(id, "Client"))
        return Client.checked(found, viewer, info.context)

    @strawberry.mutation(
        description="Admins: status DELETED at once, personal data erased after the grace period."
    )
    async def delete_client(self, info: GraphInfo, id: strawberry.ID) -> Client:
        viewer = await info.context.viewer()
        found = await members.delete_client(info.context.deps, viewer, ids.decode(id, "Client"))
        return Client.checked(found, viewer, info.context)

    @strawberry.mutation(description="Admins: undo a deletion within the grace period.")
    async def restore_client(self, info: GraphInfo, id: strawberry.ID) -> Client:
        viewer = await info.context.viewer()
        found = await members.restore_client(info.context.deps, viewer, ids.decode(id, "Client"))
        return Client.checked(found, viewer, info.context)

    @strawberry.mutation
    async def update_counsellor(self, info: GraphInfo, input: UpdateCounsellorInput) -> Counsellor:
        viewer = await info.context.viewer()
        update = CounsellorUpdate(
            ids.decode(input.id, "Counsellor", "input.id"),
            input.display_name,
            input.first_name,
            input.last_name,
            input.role,
            input.active,
            input.only_own_clients,
        )
        return Counsellor.of(await counsellors.update_counsellor(info.context.deps, viewer, update), viewer)

    @strawberry.mutation
    async def create_client(self, info: GraphInfo, input: CreateClientInput) -> Client:
        viewer = await info.context.viewer()
        primary = ids.decode_optional(input.primary_counsellor_id, "Counsellor", "input.primaryCounsellorId")
        found = await clients.create_client(info.context.deps, viewer, _profile(input), primary)
        return Client.checked(found, viewer.granting(found.id), info.context)

    @strawberry.mutation
    async def invite_client(self, info: GraphInfo, id: strawberry.ID) -> Client:
        viewer = await info.context.viewer()
        found = await clients.invite_client(info.context.deps, viewer, ids.decode(id, "Client"))
        return Client.checked(found, viewer, info.context)

    @strawberry.mutation
    async def update_client_profile(self, info: GraphInfo, input: UpdateClientProfileInput) -> Client:
        viewer = await info.context.viewer()
        client_id = ids.decode(input.id, "Client", "input.id")
        found = await clients.update_client_profile(info.context.deps, viewer, client_id, _profile(input))
        return Client.checked(found, viewer, info.context)

    @strawberry.mutation
    async def change_primary_counsellor(self, info: GraphInfo, input: ChangePrimaryCounsellorInput) -> Client:
        viewer = await info.context.viewer()
        client_id = ids.decode(input.client_id, "Client", "input.clientId")
        target = ids.decode_optional(input.counsellor_id, "Counsellor", "input.counsellorId")
        found = await clients.change_primary_counsellor(
            info.context.deps, viewer, client_id, target, input.reason
        )
        return Client.checked(found, viewer.granting(found.id), info.context)

    @strawberry.mutation(
        description="counsellorId: admins may act for another counsellor; default the viewer (likewise below)."
    )
    async def set_online_status(
        self, info: GraphInfo, status: enums.OnlineStatus, counsellor_id: strawberry.ID | None = None
    ) -> Counsellor:
        viewer = await info.context.viewer()
        target = ids.decode_optional(counsellor_id, "Counsellor", "counsellorId")
        return Counsellor.of(
            await counsellors.set_online_status(info.context.deps, viewer, status, target), viewer
        )

    @strawberry.mutation
    async def set_chat_capacity(
        self, info: GraphInfo, capacity: int, counsellor_id: strawberry.ID | None = None
    ) -> Counsellor:
        viewer = await info.context.viewer()
        target = ids.decode_optional(counsellor_id, "Counsellor", "counsellorId")
        return Counsellor.of(
            await counsellors.set_chat_capacity(info.context.deps, viewer, capacity, target), viewer
        )

    @strawberry.mutation
    async def set_mail_availability(self, info: GraphInfo, input: SetMailAvailabilityInput) -> Counsellor:
        viewer = await info.context.viewer()
        target = ids.decode_optional(input.counsellor_id, "Counsellor", "input.counsellorId")
        found = await counsellors.set_mail_availability(
            info.context.deps, viewer, input.mode, input.resources, target
        )
        return Counsellor.of(found, viewer)

    @strawberry.mutation
    async def set_absence(self, info: GraphInfo, input: SetAbsenceInput) -> Counsellor:
        viewer = await info.context.viewer()
        target = ids.decode_optional(input.counsellor_id, "Counsellor", "input.counsellorId")
        found = await counsellors.set_absence(info.context.deps, viewer, input.absent, input.message, target)
        return Counsellor.of(found, viewer)

    @strawberry.mutation
    async def set_fallback_counsellor(
        self, info: GraphInfo, counsellor_id: strawberry.ID | None = None
    ) -> Settings:
        viewer = await info.context.viewer()
        target = ids.decode_optional(counsellor_id, "Counsellor", "counsellorId")
        return Settings(
            settings=await counsellors.set_fallback_counsellor(info.context.deps, viewer, target),
            viewer=viewer,
        )

    @strawberry.mutation(description="Admin: routing settings.")
    async def update_settings(self, info: GraphInfo, input: UpdateSettingsInput) -> Settings:
        viewer = await info.context.viewer()
        fallback: object = counsellors.UNCHANGED
        if input.fallback_counsellor_id is not strawberry.UNSET:
            fallback = ids.decode_optional(
                input.fallback_counsellor_id, "Counsellor", "input.fallbackCounsellorId"
            )
        accept = (
            counsellors.UNCHANGED
            if input.accept_timeout_seconds is strawberry.UNSET
            else input.accept_timeout_seconds
        )
        update = counsellors.SettingsUpdate(
            input.primary_chat_wait_seconds, input.presence_timeout_seconds, accept, fallback
        )
        return Settings(
            settings=await counsellors.update_settings(info.context.deps, viewer, update), viewer=viewer
        )

    @strawberry.mutation(
        description="Counsellors: a sign of life of the session; keeps an ONLINE counsellor online."
    )
    async def heartbeat(self, info: GraphInfo) -> Counsellor:
        viewer = await info.context.viewer()
        return Counsellor.of(await presence.heartbeat(info.context.deps, viewer), viewer)

    @strawberry.mutation(description="The counsellor holding an assigned request accepts it.")
    async def accept_request(self, info: GraphInfo, id: strawberry.ID) -> Request:
        viewer = await info.context.viewer()
        found = await acceptance.accept_request(info.context.deps, viewer, ids.decode(id, "Request"))
        return Request.of(found, viewer)

    @strawberry.mutation(
        description="Admin: move every client of one primary counsellor to another; the number moved."
    )
    async def reassign_clients(self, info: GraphInfo, input: ReassignClientsInput) -> int:
        viewer = await info.context.viewer()
        source = ids.decode(input.from_counsellor_id, "Counsellor", "input.fromCounsellorId")
        target = ids.decode(input.to_counsellor_id, "Counsellor", "input.toCounsellorId")
        return await clients.reassign_clients(info.context.deps, viewer, source, target, input.reason)

    @strawberry.mutation
    async def submit_request(self, info: GraphInfo, input: SubmitRequestInput) -> Request:
        viewer = await info.context.viewer_checked_by_use_case()
        found = await requests.submit_request(
            info.context.deps, viewer, input.channel, input.message, input.subject, input.idempotency_key
        )
        info.context.checked(viewer)
        return Request.of(found, viewer)

    @strawberry.mutation
    async def assign_request(
        self, info: GraphInfo, id: strawberry.ID, counsellor_id: strawberry.ID
    ) -> Request:
        viewer = await info.context.viewer()
        request_id = ids.decode(id, "Request")
        target = ids.decode(counsellor_id, "Counsellor", "counsellorId")
        return Request.of(
            await requests.assign_request(info.context.deps, viewer, request_id, target), viewer
        )

    @strawberry.mutation
    async def close_request(self, info: GraphInfo, id: strawberry.ID) -> Request:
        viewer = await info.context.viewer()
        found = await requests.close_request(info.context.deps, viewer, ids.decode(id, "Request"))
        return Request.of(found, viewer.granting(found.client_id))

    @strawberry.mutation
    async def cancel_request(self, info: GraphInfo, id: strawberry.ID) -> Request:
        viewer = await info.context.viewer()
        found = await requests.cancel_request(info.context.deps, viewer, ids.decode(id, "Request"))
        return Request.of(found, viewer.granting(found.client_id))
