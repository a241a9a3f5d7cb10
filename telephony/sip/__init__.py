"""SIP user agent for real outbound calls: the same Carrier/Call seam as the simulator (telephony.interface).

    from telephony.sip import SipCarrier, TrunkConfig
    carrier = SipCarrier(TrunkConfig(host="sip.example.net", username="u", password="p", caller_id="+12025550100"),
                         rtp_port_range=(20000, 30000))
    result = carrier.dial("+12025550123", caller_id="", ring_timeout=30)   # DialResult(status, sip_code, call)

No Django here. See docs/SIP.md.
"""

from telephony.sip.carrier import IncomingCall, SipCall, SipCarrier, SipInbound
from telephony.sip.config import TrunkConfig
from telephony.sip.leg import dial_status

__all__ = ["IncomingCall", "SipCall", "SipCarrier", "SipInbound", "TrunkConfig", "dial_status"]
