import { freePort } from '../shared/listen.js';
import { edgeOf, edgeRegions, portsOf, workloadNamed, type Topology, type WorkloadPorts } from '../shared/topology.js';

/** Every port of the embedded stack: each region's edge, authz and the rating API. */
export interface StackPorts {
  /** By region. */
  readonly edges: Readonly<Record<string, WorkloadPorts>>;
  readonly authz: WorkloadPorts;
  readonly rating: WorkloadPorts;
}

/** Ports to use instead of the topology's; 0 asks for a free port. */
export interface PortChoice {
  /** `topology` (default): the ports workloads.yaml gives; `free`: a free port for everything. */
  readonly base?: 'topology' | 'free';
  readonly edges?: Readonly<Record<string, Partial<WorkloadPorts>>>;
  readonly authz?: Partial<WorkloadPorts>;
  readonly rating?: Partial<WorkloadPorts>;
}

/**
 * The stack's ports: the topology's (pki/workloads.yaml: edges 8443/8444 with admin 9901/9902, authz
 * 9443/9090, the rating API 7443/9091, also compose's published ports) unless `choice` says
 * otherwise; every 0 becomes a port that was free on `host` a moment ago.
 */
export async function resolvePorts(topology: Topology, choice: PortChoice, host: string): Promise<StackPorts> {
  const pick = async (ports: WorkloadPorts, over: Partial<WorkloadPorts> | undefined): Promise<WorkloadPorts> => {
    const base = choice.base === 'free' ? { listen: 0, admin: 0 } : ports;
    const listen = over?.listen ?? base.listen;
    const admin = over?.admin ?? base.admin;
    return Object.freeze({ listen: listen === 0 ? await freePort(host) : listen, admin: admin === 0 ? await freePort(host) : admin });
  };
  const of = (name: string): WorkloadPorts => portsOf(workloadNamed(topology, name), topology.file);
  const edges: Record<string, WorkloadPorts> = {};
  for (const region of edgeRegions(topology)) edges[region] = await pick(portsOf(edgeOf(topology, region), topology.file), choice.edges?.[region]);
  return Object.freeze({ edges: Object.freeze(edges), authz: await pick(of('authz'), choice.authz), rating: await pick(of('rating-api'), choice.rating) });
}
