// Every operation the console sends; checked against schema.graphql by graphql-codegen.
import { graphql } from "../gql";

export const Login = graphql(`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      token
      me { role counsellor { id displayName role } }
    }
  }
`);

export const Logout = graphql(`
  mutation Logout { logout }
`);

export const Me = graphql(`
  query Me { me { role counsellor { id displayName role } } }
`);

export const CounsellorState = graphql(`
  fragment CounsellorState on Counsellor {
    id displayName email role active onlineStatus chatCapacity activeChatCount
    mailAvailability mailResources openMailCount freeMailResources
    absent absenceMessage onlyOwnClients
  }
`);

export const MyState = graphql(`
  query MyState($id: ID!) { counsellor(id: $id) { ...CounsellorState } }
`);

export const CounsellorChanged = graphql(`
  subscription CounsellorChanged($id: ID) {
    counsellorAvailabilityChanged(counsellorId: $id) { ...CounsellorState }
  }
`);

export const SetOnlineStatus = graphql(`
  mutation SetOnlineStatus($status: OnlineStatus!) { setOnlineStatus(status: $status) { ...CounsellorState } }
`);

export const SetChatCapacity = graphql(`
  mutation SetChatCapacity($capacity: Int!) { setChatCapacity(capacity: $capacity) { ...CounsellorState } }
`);

export const SetMailAvailability = graphql(`
  mutation SetMailAvailability($input: SetMailAvailabilityInput!) { setMailAvailability(input: $input) { ...CounsellorState } }
`);

export const SetAbsence = graphql(`
  mutation SetAbsence($input: SetAbsenceInput!) { setAbsence(input: $input) { ...CounsellorState } }
`);

export const UpdateCounsellor = graphql(`
  mutation UpdateCounsellor($input: UpdateCounsellorInput!) { updateCounsellor(input: $input) { ...CounsellorState } }
`);

export const Heartbeat = graphql(`
  mutation Heartbeat { heartbeat { id onlineStatus } }
`);

export const RequestFields = graphql(`
  fragment RequestFields on Request {
    id channel status subject message createdAt assignedAt acceptedAt closedAt routingReason
    client { id displayName clientCode }
    counsellor { id displayName }
  }
`);

export const MyRequests = graphql(`
  query MyRequests {
    requests(filter: { assignedToMe: true, status: ASSIGNED }, first: 50) { edges { node { ...RequestFields } } }
  }
`);

export const RequestAssigned = graphql(`
  subscription RequestAssigned { requestAssigned { ...RequestFields } }
`);

export const MyRequestUpdates = graphql(`
  subscription MyRequestUpdates { requestUpdated { ...RequestFields } }
`);

export const AcceptRequest = graphql(`
  mutation AcceptRequest($id: ID!) { acceptRequest(id: $id) { ...RequestFields } }
`);

export const CloseRequest = graphql(`
  mutation CloseRequest($id: ID!) { closeRequest(id: $id) { ...RequestFields } }
`);

export const Clients = graphql(`
  query Clients($filter: ClientFilter, $first: Int, $after: String) {
    clients(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id clientCode displayName email accountStatus primaryCounsellor { id displayName active } } }
    }
  }
`);

export const ChangeFields = graphql(`
  fragment ChangeFields on PrimaryCounsellorChange {
    id source reason changedAt
    previousCounsellor { id displayName }
    newCounsellor { id displayName }
    changedBy { id displayName }
  }
`);

export const ClientFolder = graphql(`
  query ClientFolder($id: ID!) {
    client(id: $id) {
      id clientCode displayName email firstName lastName phone language
      invitationStatus accountStatus lastLoginAt createdAt
      primaryCounsellor { id displayName }
      primaryCounsellorHistory { ...ChangeFields }
    }
  }
`);

export const PrimaryChanged = graphql(`
  subscription PrimaryChanged($clientId: ID) {
    primaryCounsellorChanged(clientId: $clientId) { ...ChangeFields client { id } }
  }
`);

export const ChangePrimary = graphql(`
  mutation ChangePrimary($input: ChangePrimaryCounsellorInput!) {
    changePrimaryCounsellor(input: $input) { id primaryCounsellor { id displayName } }
  }
`);

export const Counsellors = graphql(`
  query Counsellors($filter: CounsellorFilter) { counsellors(filter: $filter) { ...CounsellorState } }
`);

export const CreateCounsellor = graphql(`
  mutation CreateCounsellor($input: CreateCounsellorInput!) { createCounsellor(input: $input) { ...CounsellorState } }
`);

export const ReassignClients = graphql(`
  mutation ReassignClients($input: ReassignClientsInput!) { reassignClients(input: $input) }
`);

export const SettingsQuery = graphql(`
  query Settings {
    settings { primaryChatWaitSeconds presenceTimeoutSeconds acceptTimeoutSeconds fallbackCounsellor { id displayName } }
  }
`);

export const UpdateSettings = graphql(`
  mutation UpdateSettings($input: UpdateSettingsInput!) {
    updateSettings(input: $input) { primaryChatWaitSeconds presenceTimeoutSeconds acceptTimeoutSeconds fallbackCounsellor { id displayName } }
  }
`);

// The Klientenmappe's notes, documents and monitoring (issue #11's folder API).
export const NoteFields = graphql(`
  fragment NoteFields on Note { id text createdAt editedAt author { id displayName } }
`);

export const Notes = graphql(`
  query Notes($id: ID!, $first: Int, $after: String) {
    client(id: $id) { id notes(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { ...NoteFields } } } }
  }
`);

export const AddNote = graphql(`
  mutation AddNote($input: AddNoteInput!) { addNote(input: $input) { ...NoteFields } }
`);

export const EditNote = graphql(`
  mutation EditNote($input: EditNoteInput!) { editNote(input: $input) { ...NoteFields } }
`);

export const DeleteNote = graphql(`
  mutation DeleteNote($id: ID!) { deleteNote(id: $id) }
`);

export const Documents = graphql(`
  query Documents($id: ID!, $first: Int, $after: String) {
    client(id: $id) {
      id
      documents(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { node { id fileName contentType sizeBytes uploadedAt downloadUrl uploadedBy { id displayName } } }
      }
    }
  }
`);

export const UploadDocument = graphql(`
  mutation UploadDocument($clientId: ID!, $file: Upload!) { uploadDocument(clientId: $clientId, file: $file) { id fileName } }
`);

export const DeleteDocument = graphql(`
  mutation DeleteDocument($id: ID!) { deleteDocument(id: $id) }
`);

export const TopicFields = graphql(`
  fragment TopicFields on MonitoringTopic { id name active children { id name active } }
`);

export const MonitoringTopics = graphql(`
  query MonitoringTopics { monitoringTopics { ...TopicFields } }
`);

export const EntryFields = graphql(`
  fragment EntryFields on MonitoringEntry {
    id contactAt channel durationMinutes outcome note createdAt
    counsellor { id displayName }
    topics { id name parent { id name } }
  }
`);

export const MonitoringEntries = graphql(`
  query MonitoringEntries($id: ID!, $first: Int, $after: String) {
    client(id: $id) {
      id
      monitoringEntries(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { ...EntryFields } } }
    }
  }
`);

export const AddMonitoringEntry = graphql(`
  mutation AddMonitoringEntry($input: AddMonitoringEntryInput!) { addMonitoringEntry(input: $input) { ...EntryFields } }
`);

export const UpdateMonitoringEntry = graphql(`
  mutation UpdateMonitoringEntry($input: UpdateMonitoringEntryInput!) { updateMonitoringEntry(input: $input) { ...EntryFields } }
`);

export const DeleteMonitoringEntry = graphql(`
  mutation DeleteMonitoringEntry($id: ID!) { deleteMonitoringEntry(id: $id) }
`);

// Administration: the catalogue and statistics, the member list, the staff list, invitations.
export const AddMonitoringTopic = graphql(`
  mutation AddMonitoringTopic($input: AddMonitoringTopicInput!) { addMonitoringTopic(input: $input) { id } }
`);

export const UpdateMonitoringTopic = graphql(`
  mutation UpdateMonitoringTopic($input: UpdateMonitoringTopicInput!) { updateMonitoringTopic(input: $input) { id } }
`);

export const MonitoringStatistics = graphql(`
  query MonitoringStatistics($from: DateTime!, $to: DateTime!, $byCounsellor: Boolean) {
    monitoringStatistics(from: $from, to: $to, byCounsellor: $byCounsellor) {
      month channel contacts suppressed
      topic { id name parent { id name } }
      counsellor { id displayName }
    }
  }
`);

export const MemberFields = graphql(`
  fragment MemberFields on Client {
    id clientCode displayName email accountStatus invitationStatus lastLoginAt
    openRequestCount lastRequestAt deletedAt erasureDueAt
    primaryCounsellor { id displayName }
  }
`);

export const Members = graphql(`
  query Members($filter: ClientFilter, $first: Int, $after: String, $orderBy: ClientOrder!) {
    clients(filter: $filter, first: $first, after: $after, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { ...MemberFields } }
    }
  }
`);

export const BlockClient = graphql(`
  mutation BlockClient($id: ID!) { blockClient(id: $id) { ...MemberFields } }
`);

export const UnblockClient = graphql(`
  mutation UnblockClient($id: ID!) { unblockClient(id: $id) { ...MemberFields } }
`);

export const DeleteClient = graphql(`
  mutation DeleteClient($id: ID!) { deleteClient(id: $id) { ...MemberFields } }
`);

export const RestoreClient = graphql(`
  mutation RestoreClient($id: ID!) { restoreClient(id: $id) { ...MemberFields } }
`);

export const InviteClient = graphql(`
  mutation InviteClient($id: ID!) { inviteClient(id: $id) { ...MemberFields } }
`);

export const StaffFields = graphql(`
  fragment StaffFields on Counsellor { id displayName email role active invitationStatus lastLoginAt primaryClientCount }
`);

export const Staff = graphql(`
  query Staff($filter: StaffFilter, $first: Int, $after: String) {
    staff(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { ...StaffFields } }
    }
  }
`);

export const InviteCounsellor = graphql(`
  mutation InviteCounsellor($id: ID!) { inviteCounsellor(id: $id) { ...StaffFields } }
`);

export const ChangeRole = graphql(`
  mutation ChangeRole($input: UpdateCounsellorInput!) { updateCounsellor(input: $input) { ...StaffFields } }
`);

export const AcceptInvitation = graphql(`
  mutation AcceptInvitation($token: String!, $password: String!) {
    acceptInvitation(token: $token, password: $password) {
      token
      me { role counsellor { id displayName role } client { id displayName } }
    }
  }
`);
