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
