/** Every port of the embedded stack. */
export interface StackPorts {
  readonly edgeUsEast: number;
  readonly edgeUsEastAdmin: number;
  readonly edgeEuCentral: number;
  readonly edgeEuCentralAdmin: number;
  readonly authz: number;
  readonly authzAdmin: number;
  readonly rating: number;
  readonly ratingAdmin: number;
}

/**
 * The ports of DESIGN.md and the compose host ports: edges 8443/8444 (admin 9901/9902), authz 9443
 * (admin 9090), the rating API 7443 (admin 9091).
 */
export const DEFAULT_PORTS: StackPorts = Object.freeze({
  edgeUsEast: 8443,
  edgeUsEastAdmin: 9901,
  edgeEuCentral: 8444,
  edgeEuCentralAdmin: 9902,
  authz: 9443,
  authzAdmin: 9090,
  rating: 7443,
  ratingAdmin: 9091,
});
