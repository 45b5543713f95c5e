"""Finding cameras on the LAN, only when the operator asks (`discovery.scan`).

Three sources, merged by address:

- `wsdiscovery`: ONVIF WS-Discovery Probe messages and their ProbeMatch replies (pure);
  `multicast` sends the Probe on one interface and collects the replies.
- `onvif_soap` (pure) and `onvif_client` (HTTP): with credentials, the device and media
  services tell manufacturer, model, firmware and each profile's RTSP stream URI.
- `rtsp_probe`: an OPTIONS/DESCRIBE exchange per address and port of a subnet the operator
  named (`subnet` holds the limits).

`scan` runs them side by side within one deadline; `results` turns what was found into the
redacted RPC result. Nothing here runs in the background.
"""
