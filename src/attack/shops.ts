// Owns the replay's shops: each opened the way koza requires, by a verified owner trading as a sole proprietor.
// Must never open a shop any other way than a real owner could over the HTTP API.
import { SimDevice, type RequestMeter } from './client.js';
import { claimOf, openWallet, verifyIdentity, verifyPhone, type SandboxPerson } from './wallet-app.js';

const SHOP_NAMES = ['Kissa Koza', 'Konbini Hoshino', 'Ramen Tsukimi', 'Hon-ya Wakaba', 'Yaoya Sakura'];
export const SHOP_COUNT = SHOP_NAMES.length;

/** Opens one shop per owner (at most five); returns the merchant ids. */
export async function openShops(kozaUrl: string, owners: SandboxPerson[], meter: RequestMeter): Promise<string[]> {
  const merchants: string[] = [];
  for (const [i, owner] of owners.slice(0, SHOP_NAMES.length).entries()) {
    const name = SHOP_NAMES[i]!;
    const device = new SimDevice(kozaUrl, `192.0.2.${10 + i}`, `merchant-back-office-000${i + 1}`, 'koza-merchant/1.0', meter);
    const wallet = await openWallet(device, `${i}.shop@merchants.example.jp`);
    await verifyPhone(wallet, owner.phone);
    if (!(await verifyIdentity(wallet, claimOf(owner)))) throw new Error(`the owner of ${name} did not pass eKYC`);
    const created = await device.post('/v1/merchants', { name, business: { kind: 'sole_proprietor', trade_name: name } }, wallet.token);
    if (created.status !== 201) throw new Error(`could not open merchant ${name}: ${created.status} ${created.text}`);
    merchants.push(String(created.json.merchant.id));
  }
  return merchants;
}
