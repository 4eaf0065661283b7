"""ONVIF cameras on the LAN: find them (WS-Discovery, `discovery`), read their stream URIs
(`media`: GetCapabilities, GetProfiles, GetStreamUri with a WS-Security user name token).

No Qt here: a dialog runs these on a thread. Only the standard library: the part of ONVIF a scan
needs is one UDP probe and three SOAP calls, where the libraries (WSDiscovery, onvif-zeep-async
with zeep and its WSDLs) would add a dependency tree to the control center for them.
"""
