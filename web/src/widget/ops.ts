// Every operation the widget sends; checked against schema.graphql by graphql-codegen.
import { graphql } from "../gql";

export const AvailabilityFields = graphql(`
  fragment AvailabilityFields on Availability {
    chatAvailable
    mailAvailable
    primaryCounsellor { displayName onlineStatus chatAvailable mailAvailable absent absenceMessage }
    queuedRequest { id }
  }
`);

export const AvailabilityNow = graphql(`
  query AvailabilityNow { availability { ...AvailabilityFields } }
`);

export const AvailabilityLive = graphql(`
  subscription AvailabilityLive { availabilityChanged { ...AvailabilityFields } }
`);

export const ClientLogin = graphql(`
  mutation ClientLogin($email: String!, $password: String!) {
    login(email: $email, password: $password) { token me { role client { id displayName } } }
  }
`);

export const Register = graphql(`
  mutation Register($input: RegisterClientInput!) {
    registerClient(input: $input) { token me { role client { id displayName } } }
  }
`);

export const ClientLogout = graphql(`
  mutation ClientLogout { logout }
`);

export const Submit = graphql(`
  mutation Submit($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }
`);

export const Follow = graphql(`
  subscription Follow($id: ID) {
    requestUpdated(id: $id) {
      id channel status queuePosition estimatedWaitSeconds counsellor { displayName }
    }
  }
`);
