// The cluster's endpoint list, read from the host on every request but decoded only when it
// changed: the host publishes it as bytes (weft.cluster.<name>.endpoints), which stay the same
// from one request to the next unless an endpoint's statistics or the membership moved. Equal
// bytes give the list decoded last time, so a steady cluster costs one property read and one
// memory comparison per request, no decoding and no allocation.

import { ClusterEndpoint, PropertyPath, parseClusterEndpoints } from "../../../sdk/assembly";

export class EndpointList {
  private readonly path: PropertyPath;
  private lastBytes: ArrayBuffer = new ArrayBuffer(0);
  private last: Array<ClusterEndpoint> = [];

  constructor(readonly cluster: string) {
    this.path = new PropertyPath(["weft", "cluster", cluster, "endpoints"]);
  }

  /** The endpoints now; empty when the host knows no such cluster. Malformed bytes abort (a host bug). */
  read(): Array<ClusterEndpoint> {
    const bytes = this.path.get();
    if (bytes === null) return [];
    const length = bytes.byteLength;
    if (length == this.lastBytes.byteLength && memory.compare(changetype<usize>(bytes), changetype<usize>(this.lastBytes), length) == 0) {
      return this.last;
    }
    const endpoints = parseClusterEndpoints(bytes);
    if (endpoints === null) {
      throw new Error("weft.cluster." + this.cluster + ".endpoints is malformed (" + length.toString() + " bytes)");
    }
    this.lastBytes = bytes;
    this.last = endpoints;
    return endpoints;
  }
}
