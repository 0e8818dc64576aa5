// Prism's language files only add themselves to the global Prism: nothing to import by name.
declare module "prismjs/components/*";
