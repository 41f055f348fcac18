"""The school owners' portal (DESIGN.md, "Reinstatement workflow"): server-rendered pages under
/portal/ where an owner sees the blocked addresses among the school's contacts, asks for
reinstatement and follows the requests; plus the login, throttling and password-reset pages
under /accounts/ and the pieces the support admin borrows (diagnostic masking, DNS check).
"""
