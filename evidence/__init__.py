"""The evidence and its reports: the topic read from recorded positions, the proofs, the renderers.

Reading (``topic_reader``) is shared by the integration tests, bench and the acceptance suite's
keyword libraries. The proofs (``phantom_proof``, ``lost_event_proof``) judge measured values;
the reports render one data model as Markdown, JSON and HTML (``markdown_table``,
``html_table``, ``report_files``).
"""
