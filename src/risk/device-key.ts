// Owns which device key the risk engine counts by: only an identifier the client keeps for itself (X-Device-Id or the
// koza_device cookie), never a stand-in made from the user agent.
// Must never hand the rules a key many unrelated customers share: a user-agent hash is the same for everyone on one
// phone model and browser version, so "wallets per device" over it would flag whole carriers.
import { deviceKeyOf, type ClientInfo } from '../identity/devices.js';

/** The client's own device id as the devices table keys it (`id:…`); undefined when the client sent none. */
export function riskDeviceKey(client: ClientInfo): string | undefined {
  const key = deviceKeyOf(client);
  return key.startsWith('id:') ? key : undefined;
}
