// Owns the kill-switch check of new bank links (SPEC §8.1): halted globally or for one bank, existing links keep working.
// Must never be skipped by a link flow: it runs before koza asks the bank for anything.
export { assertLinkingAllowed, LinkingHalted } from '../operations/controls.js';
