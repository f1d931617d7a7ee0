"""The web application: trader portal, officer workbench, supervisor dashboards, public pages."""
